"""``sg.func``: function transforms as in ``torch.func`` -- numeric witnesses.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``linearize``, ``jacrev``,
``jacfwd``, ``hessian`` and ``hvp`` take Python functions of tensors and return
numbers (float tensors), computed by numeric's reverse-mode engine.  They are the
numeric counterparts of the exact ``sg.jacobian`` / ``sg.hessian``, so that
``verify.check_jacobian`` / ``verify.check_hessian`` can compare the two.

>>> import symgrad as sg
>>> f = lambda x: (x ** 3).sum()
>>> sg.func.grad(f)(sg.tensor([1.0, 2.0]))
tensor([ 3., 12.])
>>> sg.func.hessian(f)(sg.tensor([1.0, 2.0]))
tensor([[ 6.,  0.],
        [ 0., 12.]])

Note [Forward mode by double VJP]
    symgrad has no per-op forward-mode (JVP) rules: every op has one hand-written
    VJP.  ``jvp`` therefore uses the double-VJP trick (as
    ``torch.autograd.functional.jvp`` does): with a dummy cotangent ``u`` that
    requires grad, ``g(u) = J^T u`` is computed with ``create_graph=True``; ``g``
    is linear in ``u``, so the VJP of ``g`` with cotangent ``v`` is
    ``(J^T)^T v = J v``.  Values equal true forward mode up to rounding; the cost
    is two reverse passes instead of one forward pass.  ``linearize`` keeps ``g``
    and answers each tangent with one more reverse pass (``jacfwd`` uses it for
    its columns).

Note [Composition]
    A transform makes fresh inputs for the function.  When a primal requires
    grad (a leaf of the user's, or an input made by an enclosing transform) and
    grad mode is on, the fresh input is a differentiable copy of it and the
    transform differentiates with ``create_graph=True``, so its result is part
    of the enclosing graph: ``grad(grad(f))``, ``jacrev(jacrev(f))``,
    ``jacfwd(jacrev(f))`` work, as does ``.backward()`` through a result.
    Otherwise results are plain tensors with no ``grad_fn``.  Like
    ``torch.func``, a transform records its own graph even inside ``sg.no_grad()``.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, Union

import numpy as np

from symgrad import autograd as _ag
from symgrad.errors import GradientError, SymbolicValueError
from symgrad.tensor import Tensor

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize", "jacrev", "jacfwd",
           "hessian", "hvp"]

ArgNums = Union[int, Sequence[int]]


# ----------------------------------------------------------------------------- helpers
def _check_argnums(argnums: ArgNums, n_args: int, where: str) -> tuple[int, ...]:
    """``argnums`` as a tuple of non-negative positions, validated against ``n_args``."""
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    if many and not nums:
        raise ValueError(f"{where}: argnums must be non-empty, got {argnums!r}")
    out = []
    for a in nums:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{where}: argnums must be an int or a tuple of ints, got "
                            f"{argnums!r}")
        if not -n_args <= a < n_args:
            raise ValueError(f"{where}: got argnums={argnums!r}, but only {n_args} positional "
                             f"input(s); pass argnums between {-n_args} and {n_args - 1}"
                             if n_args else f"{where}: got argnums={argnums!r}, but the "
                             "function was called with no positional inputs")
        out.append(int(a) % n_args)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: argnums {argnums!r} names an input twice; list each once")
    return tuple(out)


def _check_primal(x: Any, where: str, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: {what} must be a symgrad Tensor, got {type(x).__name__}; "
                        "wrap it with sg.tensor(...)")
    if x.value is None:
        raise SymbolicValueError(
            f"{where}: {what} is symbolic (built from sg.symbol) and has no value; sg.func "
            "computes numbers: give it values, or use sg.jacobian / sg.hessian for the "
            "exact derivative")
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: {what} has dtype {x.dtype.name}; only floating point "
                        "tensors can be differentiated: convert with .double() or .float()")
    return x


def _nested(x: Tensor) -> bool:
    """Whether ``x`` belongs to an enclosing graph (Note [Composition])."""
    return bool(x.requires_grad and _ag.GRAD_MODE.enabled)


def _fresh(x: Tensor) -> Tensor:
    """The function's input standing for primal ``x``: a differentiable copy or a new leaf."""
    if _nested(x):
        with _ag.enable_grad():
            return x.clone()
    return x.detach().requires_grad_()


def _outputs(out: Any, where: str) -> tuple[tuple[Tensor, ...], bool]:
    """``(output tensors, was a tuple)`` of a function's result, checked."""
    single = isinstance(out, Tensor)
    outs = (out,) if single else out
    if not isinstance(outs, (tuple, list)) or not outs or \
            not all(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"{where}: the function must return a symgrad Tensor or a tuple of "
                        f"Tensors, got {_describe(out)}; return sg.tensor(...) results "
                        "(use has_aux=True to return extra values)")
    for k, o in enumerate(outs):
        if o.value is None:
            raise SymbolicValueError(f"{where}: output {k} is symbolic (no value)")
        if o.dtype.kind != "f":
            raise TypeError(f"{where}: output {k} has dtype {o.dtype.name}; only floating "
                            "point outputs can be differentiated")
    return tuple(outs), not single


def _describe(x: Any) -> str:
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of ({', '.join(type(v).__name__ for v in x)})"
    return type(x).__name__


def _split_aux(res: Any, has_aux: bool, where: str) -> tuple[Any, Any]:
    if not has_aux:
        return res, None
    if not (isinstance(res, tuple) and len(res) == 2):
        raise TypeError(f"{where}: with has_aux=True the function must return a pair "
                        f"(output, aux), got {_describe(res)}")
    return res


def _call(func: Callable, args: Sequence[Any], has_aux: bool, where: str):
    """Run ``func(*args)`` recording a graph; ``(outputs, was_tuple, aux)``."""
    with _ag.enable_grad():
        res = func(*args)
    out, aux = _split_aux(res, has_aux, where)
    outs, is_tuple = _outputs(out, where)
    return outs, is_tuple, aux


def _detach_aux(aux: Any, keep: bool) -> Any:
    if keep:
        return aux
    if isinstance(aux, Tensor) and aux.value is not None:
        return aux.detach()
    if isinstance(aux, (tuple, list)):
        return type(aux)(_detach_aux(a, keep) for a in aux)
    if isinstance(aux, dict):
        return {k: _detach_aux(v, keep) for k, v in aux.items()}
    return aux


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor._wrap(np.zeros(x.shape, dtype=x.dtype))


def _as_cotangent(c: Any, like: Tensor, where: str, what: str) -> Tensor:
    if not isinstance(c, Tensor):
        raise TypeError(f"{where}: {what} must be a symgrad Tensor shaped like {tuple(like.shape)}, "
                        f"got {type(c).__name__}")
    if tuple(c.shape) != tuple(like.shape):
        raise ValueError(f"{where}: {what} has shape {tuple(c.shape)} but must have shape "
                         f"{tuple(like.shape)} (the shape of the value it pairs with)")
    return c


def _grads(outs: Sequence[Tensor], ins: Sequence[Tensor], cts: Sequence[Tensor],
           create_graph: bool) -> list[Tensor]:
    """``sum_k J_k^T ct_k`` for every input, zeros for inputs no output depends on.

    The graph is retained: a VJP function may be called again (``jacrev`` does).
    """
    live = [k for k, o in enumerate(outs) if o.requires_grad]
    if not live:
        return [_zeros_like(x) for x in ins]
    got = _ag.grad([outs[k] for k in live], list(ins), [cts[k] for k in live],
                   retain_graph=True, create_graph=create_graph, allow_unused=True)
    return [_zeros_like(x) if g is None else g for g, x in zip(got, ins)]


def _pack(items: list, is_tuple: bool) -> Any:
    return tuple(items) if is_tuple else items[0]


def _one_hot(shape: tuple, dtype: Any, k: int) -> Tensor:
    e = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=dtype)
    e[k] = 1
    return Tensor._wrap(e.reshape(shape))


def _stack(parts: list[Tensor], lead: tuple, tail: tuple) -> Tensor:
    """Stack tensors of shape ``tail`` (one per element of ``lead``) to ``lead + tail``."""
    from symgrad.tensor_ops import stack
    if not parts:
        return Tensor._wrap(np.zeros(lead + tail))
    flat = stack([p.reshape(-1) if p.ndim else p.reshape(1) for p in parts], 0)
    return flat.reshape(lead + tail)


def _stack_columns(cols: list[Tensor], lead: tuple, tail: tuple) -> Tensor:
    """Columns (shape ``lead``, one per element of ``tail``) to shape ``lead + tail``."""
    from symgrad.tensor_ops import stack
    if not cols:
        return Tensor._wrap(np.zeros(lead + tail))
    flat = stack([c.reshape(-1) if c.ndim else c.reshape(1) for c in cols], 1)
    return flat.reshape(lead + tail)


# ----------------------------------------------------------------------------- vjp
def vjp(func: Callable, *primals: Tensor, has_aux: bool = False) -> tuple:
    """``(output, vjp_fn)``: ``func(*primals)`` and its vector-Jacobian product, as ``torch.func.vjp``.

    ``vjp_fn(cotangent)`` (one cotangent per output, shaped like it) returns a
    tuple with ``J^T cotangent`` for each primal, shaped like the primal; it may
    be called many times.  With ``has_aux=True`` ``func`` returns
    ``(output, aux)`` and the result is ``(output, vjp_fn, aux)``.

    >>> import symgrad as sg
    >>> x = sg.tensor([1.0, 2.0])
    >>> out, vjp_fn = sg.func.vjp(lambda x: x ** 2, x)
    >>> out, vjp_fn(sg.tensor([1.0, 10.0]))
    (tensor([1., 4.]), (tensor([ 2., 40.]),))
    """
    where = "vjp(func, *primals)"
    if not primals:
        raise ValueError(f"{where}: pass at least one primal tensor")
    xs = [_check_primal(p, where, f"primals[{k}]") for k, p in enumerate(primals)]
    nested = any(_nested(x) for x in xs)
    ins = [_fresh(x) for x in xs]
    outs, is_tuple, aux = _call(func, ins, has_aux, where)

    def vjp_fn(*cotangents: Tensor) -> tuple:
        if len(cotangents) == 1 and is_tuple and isinstance(cotangents[0], (tuple, list)):
            cotangents = tuple(cotangents[0])
        if len(cotangents) != len(outs):
            raise ValueError(f"vjp_fn: expected {len(outs)} cotangent(s), one per output, "
                             f"got {len(cotangents)}")
        cts = [_as_cotangent(c, o, "vjp_fn", f"cotangent {k}")
               for k, (c, o) in enumerate(zip(cotangents, outs))]
        return tuple(_grads(outs, ins, cts, nested or any(c.requires_grad for c in cts)))

    shown = outs if nested else tuple(o.detach() for o in outs)
    result = (_pack(list(shown), is_tuple), vjp_fn)
    return result + (_detach_aux(aux, nested),) if has_aux else result


def _scalar_output(out: Any, where: str, has_aux: bool) -> Tensor:
    """``out`` checked to be a one-element float tensor (what ``grad`` differentiates)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{where}: the function must return a scalar symgrad Tensor, got "
                        f"{_describe(out)}" + ("" if has_aux else
                                               "; to return extra values use has_aux=True"))
    (out,), _ = _outputs(out, where)
    if out.value.size != 1:
        raise GradientError(
            f"{where}: expected the function to return a scalar tensor, got shape "
            f"{tuple(out.shape)}; reduce it (.sum(), .mean()) or use sg.func.vjp / "
            "sg.func.jacrev for non-scalar outputs")
    return out


# ----------------------------------------------------------------------------- grad
def grad_and_value(func: Callable, argnums: ArgNums = 0, has_aux: bool = False) -> Callable:
    """Like :func:`grad`, returning ``(gradient, value)``, as ``torch.func.grad_and_value``.

    With ``has_aux=True`` the result is ``(gradient, (value, aux))``.

    >>> import symgrad as sg
    >>> sg.func.grad_and_value(lambda x: (x * x).sum())(sg.tensor([3.0]))
    (tensor([6.]), tensor(9.))
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> tuple:
        where = "grad(func)(*args)"
        nums = _check_argnums(argnums, len(args), where)
        xs = {k: _check_primal(args[k], where, f"argument {k} (argnums)") for k in nums}
        nested = any(_nested(x) for x in xs.values())
        call_args = list(args)
        ins = []
        for k in nums:
            call_args[k] = _fresh(xs[k])
            ins.append(call_args[k])
        with _ag.enable_grad():
            res = func(*call_args, **kwargs)
        out, aux = _split_aux(res, has_aux, where)
        out = _scalar_output(out, where, has_aux)
        gs = _grads([out], ins, [Tensor._wrap(np.ones(out.shape, out.dtype))], nested)
        g = tuple(gs) if isinstance(argnums, (tuple, list)) else gs[0]
        value = out if nested else out.detach()
        if has_aux:
            return g, (value, _detach_aux(aux, nested))
        return g, value
    return wrapper


def grad(func: Callable, argnums: ArgNums = 0, has_aux: bool = False) -> Callable:
    """The gradient function of a scalar-valued ``func``, as ``torch.func.grad``.

    ``grad(func)(*args)`` is d func / d args[argnums], shaped like that argument;
    with a tuple ``argnums`` a tuple of gradients.  ``func`` must return a
    one-element float tensor (shape ``()``, or ``(1,)`` as ``backward()`` accepts;
    torch wants ``()``); other arguments (not in ``argnums``) may be anything.  With ``has_aux=True``,
    ``func`` returns ``(output, aux)`` and the result is ``(gradient, aux)``.
    Composes: ``grad(grad(f))`` is the second derivative.

    >>> import symgrad as sg
    >>> f = lambda x, y: (x * sg.sin(y)).sum()
    >>> sg.func.grad(f, argnums=(0, 1))(sg.tensor([2.0]), sg.tensor([0.0]))
    (tensor([0.]), tensor([2.]))
    >>> sg.func.grad(sg.func.grad(lambda x: x ** 3))(sg.tensor(2.0))
    tensor(12.)
    """
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


# ----------------------------------------------------------------------------- jvp
def linearize(func: Callable, *primals: Tensor) -> tuple:
    """``(output, jvp_fn)`` with ``jvp_fn(*tangents) = J tangents``, as ``torch.func.linearize``.

    The first reverse pass (Note [Forward mode by double VJP]) is done once; each
    call of ``jvp_fn`` costs one more reverse pass.

    >>> import symgrad as sg
    >>> out, jvp_fn = sg.func.linearize(sg.sin, sg.tensor([0.0, 1.0]))
    >>> jvp_fn(sg.tensor([2.0, 0.0]))
    tensor([2., 0.])
    """
    where = "linearize(func, *primals)"
    if not primals:
        raise ValueError(f"{where}: pass at least one primal tensor")
    xs = [_check_primal(p, where, f"primals[{k}]") for k, p in enumerate(primals)]
    out, fn = _linearize(func, xs, where, False)
    return out, fn


def _linearize(func: Callable, xs: list, where: str, has_aux: bool):
    nested = any(_nested(x) for x in xs)
    ins = [_fresh(x) for x in xs]
    outs, is_tuple, aux = _call(func, ins, has_aux, where)
    # the dummy cotangents u: g(u) = J^T u is linear in u (Note [Forward mode by double VJP])
    us = [Tensor._wrap(np.zeros(o.shape, o.dtype)).requires_grad_() for o in outs]
    with _ag.enable_grad():
        gs = _grads(outs, ins, us, True)
    live = [k for k, g in enumerate(gs) if g.requires_grad]

    def jvp_fn(*tangents: Tensor) -> Any:
        if len(tangents) != len(xs):
            raise ValueError(f"jvp: expected {len(xs)} tangent(s), one per primal, got "
                             f"{len(tangents)}")
        ts = [_as_cotangent(t, x, "jvp", f"tangents[{k}]")
              for k, (t, x) in enumerate(zip(tangents, xs))]
        create = nested or any(t.requires_grad for t in ts)
        if not live:
            res = [_zeros_like(o) for o in outs]
        else:
            got = _ag.grad([gs[k] for k in live], us, [ts[k] for k in live],
                           retain_graph=True, create_graph=create, allow_unused=True)
            res = [_zeros_like(o) if r is None else r for r, o in zip(got, outs)]
        return _pack(res, is_tuple)

    shown = outs if nested else tuple(o.detach() for o in outs)
    out = _pack(list(shown), is_tuple)
    if has_aux:
        return out, jvp_fn, _detach_aux(aux, nested)
    return out, jvp_fn


def _tuple_arg(v: Any, where: str, what: str) -> tuple:
    if isinstance(v, Tensor):
        return (v,)
    if not isinstance(v, (tuple, list)):
        raise TypeError(f"{where}: expected {what} to be a tuple of Tensors (or one Tensor), "
                        f"got {type(v).__name__}")
    return tuple(v)


def _primals_and_tangents(primals: Any, tangents: Any, where: str) -> tuple:
    """``(checked primal tensors, tangents as given)`` of jvp/hvp, one tangent per primal."""
    ps = _tuple_arg(primals, where, "primals")
    ts = _tuple_arg(tangents, where, "tangents")
    if not ps:
        raise ValueError(f"{where}: pass at least one primal tensor")
    if len(ps) != len(ts):
        raise ValueError(f"{where}: expected as many tangents as primals, got {len(ps)} "
                         f"primals and {len(ts)} tangents")
    return [_check_primal(p, where, f"primals[{k}]") for k, p in enumerate(ps)], ts


def jvp(func: Callable, primals: Any, tangents: Any, *, has_aux: bool = False) -> tuple:
    """``(output, jvp_out)``: ``func(*primals)`` and ``J tangents``, as ``torch.func.jvp``.

    ``primals`` and ``tangents`` are tuples of tensors (one tensor is accepted
    for one input); each tangent is shaped like its primal.  Forward mode is
    emulated by two reverse passes (Note [Forward mode by double VJP]).  With
    ``has_aux=True`` the result is ``(output, jvp_out, aux)``.

    >>> import symgrad as sg
    >>> sg.func.jvp(lambda x, y: x * y, (sg.tensor([2.0]), sg.tensor([3.0])),
    ...             (sg.tensor([1.0]), sg.tensor([0.0])))
    (tensor([6.]), tensor([3.]))
    """
    where = "jvp(func, primals, tangents)"
    xs, ts = _primals_and_tangents(primals, tangents, where)
    res = _linearize(func, xs, where, has_aux)
    out, fn = res[0], res[1]
    jv = fn(*ts)
    return (out, jv, res[2]) if has_aux else (out, jv)


# ----------------------------------------------------------------------------- Jacobians
def _jac_setup(args: tuple, argnums: ArgNums, where: str):
    nums = _check_argnums(argnums, len(args), where)
    xs = [_check_primal(args[k], where, f"argument {k} (argnums)") for k in nums]
    return nums, xs


def _partial(func: Callable, args: tuple, nums: tuple, kwargs: dict) -> Callable:
    """``func`` as a function of the ``argnums`` arguments only."""
    def f(*chosen: Tensor) -> Any:
        call = list(args)
        for k, v in zip(nums, chosen):
            call[k] = v
        return func(*call, **kwargs)
    return f


def _nest(blocks: list[list[Tensor]], out_tuple: bool, in_tuple: bool) -> Any:
    """``blocks[o][i]`` to torch's layout: outputs outside, argnums inside."""
    rows = [tuple(r) if in_tuple else r[0] for r in blocks]
    return tuple(rows) if out_tuple else rows[0]


def jacrev(func: Callable, argnums: ArgNums = 0, *, has_aux: bool = False) -> Callable:
    """The Jacobian of ``func`` by reverse mode (one VJP per output element), as ``torch.func.jacrev``.

    ``jacrev(func, argnums)(*args)`` has shape ``output.shape + args[argnums].shape``;
    a tuple ``argnums`` gives a tuple over inputs, a tuple output a tuple over
    outputs (of tuples over inputs).  With ``has_aux=True`` returns ``(jacobian, aux)``.

    >>> import symgrad as sg
    >>> sg.func.jacrev(lambda x: x ** 2)(sg.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        where = "jacrev(func, argnums)(*args)"
        nums, xs = _jac_setup(args, argnums, where)
        res = vjp(_partial(func, args, nums, kwargs), *xs, has_aux=has_aux)
        out, vjp_fn = res[0], res[1]
        outs = out if isinstance(out, tuple) else (out,)
        blocks = []
        for o_k, o in enumerate(outs):
            rows: list[list[Tensor]] = [[] for _ in xs]
            for e in range(o.numel()):
                cts = [_one_hot(tuple(p.shape), p.dtype, e) if j == o_k else _zeros_like(p)
                       for j, p in enumerate(outs)]
                for i, g in enumerate(vjp_fn(*cts)):
                    rows[i].append(g)
            blocks.append([_stack(r, tuple(o.shape), tuple(x.shape)) for r, x in zip(rows, xs)])
        jac = _nest(blocks, isinstance(out, tuple), isinstance(argnums, (tuple, list)))
        return (jac, res[2]) if has_aux else jac
    return wrapper


def jacfwd(func: Callable, argnums: ArgNums = 0, *, has_aux: bool = False) -> Callable:
    """The Jacobian of ``func`` column by column with JVPs, as ``torch.func.jacfwd``.

    Same layout as :func:`jacrev`.  Each column is a JVP (emulated by a reverse
    pass over a linear graph, Note [Forward mode by double VJP]).

    >>> import symgrad as sg
    >>> sg.func.jacfwd(lambda x: x.sum() * x)(sg.tensor([1.0, 2.0]))
    tensor([[4., 1.],
            [2., 5.]])
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        where = "jacfwd(func, argnums)(*args)"
        nums, xs = _jac_setup(args, argnums, where)
        res = _linearize(_partial(func, args, nums, kwargs), xs, where, has_aux)
        out, jvp_fn = res[0], res[1]
        outs = out if isinstance(out, tuple) else (out,)
        cols: list[list[list[Tensor]]] = [[[] for _ in xs] for _ in outs]
        for i, x in enumerate(xs):
            for e in range(x.numel()):
                ts = [_one_hot(tuple(p.shape), p.dtype, e) if j == i else _zeros_like(p)
                      for j, p in enumerate(xs)]
                jv = jvp_fn(*ts)
                for o_k, c in enumerate(jv if isinstance(out, tuple) else (jv,)):
                    cols[o_k][i].append(c)
        blocks = [[_stack_columns(cols[o_k][i], tuple(o.shape), tuple(x.shape))
                   for i, x in enumerate(xs)] for o_k, o in enumerate(outs)]
        jac = _nest(blocks, isinstance(out, tuple), isinstance(argnums, (tuple, list)))
        return (jac, res[2]) if has_aux else jac
    return wrapper


def hessian(func: Callable, argnums: ArgNums = 0) -> Callable:
    """The Hessian of a scalar ``func``, as ``torch.func.hessian``.

    ``hessian(func)(x)`` has shape ``x.shape + x.shape``; with a tuple
    ``argnums`` a tuple of tuples of blocks ``[i][j]`` of shape
    ``args[i].shape + args[j].shape``.  torch computes ``jacfwd(jacrev(func))``;
    symgrad's forward mode is two reverse passes, so this is
    ``jacrev(jacrev(func))`` (reverse over reverse): the same values, cheaper here.

    >>> import symgrad as sg
    >>> sg.func.hessian(lambda x: x[0] ** 2 * x[1])(sg.tensor([1.0, 3.0]))
    tensor([[6., 2.],
            [2., 0.]])
    """
    return jacrev(jacrev(func, argnums), argnums)


def hvp(func: Callable, primals: Any, tangents: Any) -> tuple:
    """``(output, hvp_out)``: a scalar ``func(*primals)`` and its Hessian times ``tangents``.

    ``primals`` and ``tangents`` are tuples of tensors (or one tensor each), as
    in :func:`jvp`; the result has one entry per primal (a tensor when
    ``primals`` is one tensor), like ``torch.autograd.functional.hvp``'s
    ``(func_output, hvp)``.  Computed as the VJP of the gradient (the Hessian is
    symmetric): two reverse passes, no Hessian is formed.

    >>> import symgrad as sg
    >>> sg.func.hvp(lambda x: (x ** 3).sum(), sg.tensor([1.0, 2.0]), sg.tensor([1.0, 1.0]))
    (tensor(9.), tensor([ 6., 12.]))
    """
    where = "hvp(func, primals, tangents)"
    one = isinstance(primals, Tensor)
    xs, ts = _primals_and_tangents(primals, tangents, where)
    ts = tuple(_as_cotangent(t, x, where, f"tangents[{k}]")
               for k, (t, x) in enumerate(zip(ts, xs)))
    nested = any(_nested(x) for x in xs) or any(t.requires_grad for t in ts)
    ins = [_fresh(x) for x in xs]
    with _ag.enable_grad():
        out = _scalar_output(func(*ins), where, False)
        gs = _grads([out], ins, [Tensor._wrap(np.ones(out.shape, out.dtype))], True)
    live = [k for k, g in enumerate(gs) if g.requires_grad]
    res = [_zeros_like(x) for x in xs]
    if live:
        got = _ag.grad([gs[k] for k in live], ins, [ts[k] for k in live], retain_graph=True,
                       create_graph=nested, allow_unused=True)
        res = [r if g is None else g for r, g in zip(res, got)]
    return (out if nested else out.detach()), (res[0] if one else tuple(res))
