"""Neural-network ops with ``torch.nn.functional``'s signatures (issue 11, nnops).

Primitives (numeric/rules/nnops.py): ``convolution`` (conv1d, conv2d),
``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``, ``interpolate`` and
``standardize`` (the normalisation inside layer_norm and batch_norm).  Built
from other ops (listed in ``verify.opdb.COMPOSED``): the conv bias and the norms'
weight and bias (``add``/``mul``), ``dropout`` (``mul`` by a constant mask),
``embedding`` (``getitem``), ``scaled_dot_product_attention`` (``matmul``,
``softmax``).  ``sg.batch_norm`` and ``sg.embedding`` take ``torch.batch_norm``'s
and ``torch.embedding``'s argument orders; ``sg.nn.functional`` has F's
(:func:`functional_batch_norm`, :func:`functional_embedding`).

>>> import symgrad as sg
>>> x = sg.ones(1, 1, 4, 4)
>>> sg.conv2d(x, sg.ones(1, 1, 3, 3), padding=1)[0, 0, 0]
tensor([4., 6., 6., 4.])
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Optional

import numpy as np

from numeric.ops import Op
from numeric.rules.nnops import max_pool_argmax, out_size, pool_out
from symgrad import creation
from symgrad.errors import ShapeError
from symgrad.tensor import Tensor, _apply, _node, const, mark_modified

__all__ = ["conv1d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "interpolate", "layer_norm", "batch_norm", "dropout", "embedding"]


def _t(x: Any, like: Optional[Tensor] = None) -> Tensor:
    return x if isinstance(x, Tensor) else const(x, like)


def _reshape(t: Tensor, shape: tuple) -> Tensor:
    return t if tuple(t.shape) == tuple(shape) else _apply(Op.RESHAPE, (t,), {"shape": shape})


def _tuple(v: Any, n: int, what: str) -> tuple:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints."""
    if isinstance(v, (builtins.int, np.integer)):
        return (builtins.int(v),) * n
    out = tuple(builtins.int(e) for e in v)
    if len(out) == 1:
        return out * n
    if len(out) != n:
        raise RuntimeError(f"{what} must be an int or a tuple of {n} ints, got {v!r}")
    return out


def _unbatched(fn: Any, t: Tensor, spatial: int, name: str, *args: Any, **kw: Any) -> Tensor:
    """Run ``fn`` on (N, C, *spatial), adding and removing the batch dim of a (C, *spatial) input."""
    if t.ndim == spatial + 2:
        return fn(t, *args, **kw)
    if t.ndim == spatial + 1:
        out = fn(_reshape(t, (1,) + tuple(t.shape)), *args, **kw)
        return _reshape(out, tuple(out.shape[1:]))
    raise RuntimeError(f"{name}: expected {spatial + 1}D (unbatched) or {spatial + 2}D "
                       f"(batched) input, but got input of size {tuple(t.shape)}")


# ----------------------------------------------------------------------------- convolution
def _conv_padding(padding: Any, kernel: tuple, dilation: tuple, stride: tuple) -> tuple:
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: {padding!r}; use 'valid', 'same', an "
                               "int or a tuple of ints")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions; "
                               "use stride=1 or an explicit padding")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((tot // 2, tot - tot // 2) for tot in totals)
    pads = _tuple(padding, n, "padding")
    if min(pads) < 0:
        raise RuntimeError(f"negative padding is not supported, got padding={padding!r}")
    return tuple((p, p) for p in pads)


def _check_conv(x: Tensor, w: Tensor, groups: int, name: str) -> None:
    c, o = x.shape[1], w.shape[0]
    if groups < 1:
        raise RuntimeError(f"{name}: non-positive groups is not supported, got {groups}")
    if o % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by "
                           f"{groups} at dimension 0, but got weight of size "
                           f"{list(w.shape)} instead")
    if c != w.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(w.shape)}, expected "
                           f"input{list(x.shape)} to have {w.shape[1] * groups} channels, but "
                           f"got {c} channels instead")


def _conv(input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
          groups: int, n: int) -> Tensor:
    name = f"conv{n}d"
    w = _t(weight)
    x = _t(input, w)
    if w.ndim != n + 2:
        raise RuntimeError(f"{name}: expected a {n + 2}-D weight (out_channels, "
                           f"in_channels/groups, *kernel), got size {tuple(w.shape)}")
    stride_t, dil = _tuple(stride, n, "stride"), _tuple(dilation, n, "dilation")
    if min(stride_t) < 1:
        raise RuntimeError(f"{name}: non-positive stride is not supported, got {stride!r}")
    if min(dil) < 1:
        raise RuntimeError(f"{name}: dilation should be greater than zero, got {dilation!r}")
    pads = _conv_padding(padding, tuple(w.shape[2:]), dil, stride_t)
    groups = builtins.int(groups)

    def run(x4: Tensor) -> Tensor:
        _check_conv(x4, w, groups, name)
        sizes = [out_size(s, k, st, lo, hi, d) for s, k, st, (lo, hi), d in
                 zip(x4.shape[2:], w.shape[2:], stride_t, pads, dil)]
        if min(sizes) < 1:
            padded = tuple(s + lo + hi for s, (lo, hi) in zip(x4.shape[2:], pads))
            raise RuntimeError(
                f"{name}: calculated padded input size per channel: {padded}; kernel size "
                f"{tuple(w.shape[2:])} (dilation {dil}) can't be greater than actual input "
                "size; pad the input or use a smaller kernel")
        out = _apply(Op.CONVOLUTION, (x4, w), {"stride": stride_t, "padding": pads,
                                               "dilation": dil, "groups": groups})
        if bias is None:
            return out
        b = _t(bias, out)
        if tuple(b.shape) != (w.shape[0],):
            raise RuntimeError(f"{name}: expected bias of shape ({w.shape[0]},) (one per output "
                               f"channel), got {tuple(b.shape)}")
        return out + _reshape(b, (w.shape[0],) + (1,) * n)

    return _unbatched(run, x, n, name)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution of ``input (N, C, L)`` with ``weight (O, C/groups, K)``, as PyTorch's.

    ``padding``: an int, a 1-tuple, ``'valid'`` (none) or ``'same'`` (output length =
    input length; stride 1).

    >>> import symgrad as sg
    >>> sg.conv1d(sg.tensor([[[1.0, 2.0, 3.0, 4.0]]]), sg.tensor([[[1.0, -1.0]]]))
    tensor([[[-1., -1., -1.]]])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution of ``input (N, C, H, W)`` with ``weight (O, C/groups, KH, KW)``.

    As PyTorch's (a cross-correlation): ``stride``, ``padding`` (int, tuple,
    ``'valid'``, ``'same'``), ``dilation`` and ``groups``; ``bias`` of shape (O,).
    A 3-D input (C, H, W) is an unbatched one.

    >>> import symgrad as sg
    >>> x = sg.arange(16.0).reshape(1, 1, 4, 4)
    >>> sg.conv2d(x, sg.ones(1, 1, 2, 2), stride=2)
    tensor([[[[10., 18.],
              [42., 50.]]]])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


# ----------------------------------------------------------------------------- pooling
def _pool_args(kernel_size: Any, stride: Any, padding: Any, dilation: Any, name: str) -> tuple:
    k = _tuple(kernel_size, 2, "kernel_size")
    s = k if stride is None or (not isinstance(stride, builtins.int) and len(stride) == 0) \
        else _tuple(stride, 2, "stride")
    p, d = _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise RuntimeError(f"{name}: kernel_size, stride and dilation must be positive, got "
                           f"kernel_size={k}, stride={s}, dilation={d}")
    for pi, ki, di in zip(p, k, d):
        if pi < 0 or pi > (di * (ki - 1) + 1) // 2:
            raise RuntimeError(f"{name}: pad should be at most half of effective kernel size "
                               f"(and non-negative), but got pad={pi}, kernel_size={ki} and "
                               f"dilation={di}")
    return k, s, p, d


def _check_pool_size(x: Tensor, k, s, p, d, ceil_mode, name: str) -> None:
    out = [pool_out(n, ki, si, pi, di, ceil_mode) for n, ki, si, pi, di in
           zip(x.shape[2:], k, s, p, d)]
    if min(out) < 1:
        raise RuntimeError(f"{name}: given input size {tuple(x.shape)}, the output size "
                           f"{tuple(x.shape[:2]) + tuple(out)} is too small; use a smaller "
                           "kernel_size or more padding")


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Maximum over each window, as PyTorch's (the gradient goes to the first maximum).

    ``return_indices=True`` also returns, per output, the flat index ``row * W + col``
    of its maximum in the input plane (an int64 tensor without gradient).

    >>> import symgrad as sg
    >>> x = sg.arange(16.0).reshape(1, 1, 4, 4)
    >>> sg.max_pool2d(x, 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    attrs = {"kernel": k, "stride": s, "padding": p, "dilation": d,
             "ceil_mode": builtins.bool(ceil_mode)}

    def run(x4: Tensor) -> Tensor:
        _check_pool_size(x4, k, s, p, d, ceil_mode, "max_pool2d")
        return _apply(Op.MAX_POOL2D, (x4,), attrs)

    x = _t(input)
    out = _unbatched(run, x, 2, "max_pool2d")
    if not return_indices:
        return out
    value = x._need_value("max_pool2d(return_indices=True)")
    planes = value if value.ndim == 4 else value[None]
    rows, cols, pads = max_pool_argmax(planes, **attrs)
    flat = (rows - pads[0][0]) * value.shape[-1] + (cols - pads[1][0])
    return out, _node(np.asarray(flat.reshape(out.shape), np.int64), None, (), {}, False)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """Mean over each window, as PyTorch's (``count_include_pad``: zeros of the padding count).

    >>> import symgrad as sg
    >>> sg.avg_pool2d(sg.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    if divisor_override is not None:
        raise NotImplementedError("avg_pool2d: divisor_override is not supported; divide "
                                  "the sum (avg_pool2d(...) * kernel area) yourself")
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    attrs = {"kernel": k, "stride": s, "padding": p, "ceil_mode": builtins.bool(ceil_mode),
             "count_include_pad": builtins.bool(count_include_pad)}

    def run(x4: Tensor) -> Tensor:
        _check_pool_size(x4, k, s, p, (1, 1), ceil_mode, "avg_pool2d")
        return _apply(Op.AVG_POOL2D, (x4,), attrs)

    return _unbatched(run, _t(input), 2, "avg_pool2d")


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """Mean over the windows that tile the input into ``output_size`` cells (PyTorch's bounds).

    ``output_size``: an int or (OH, OW); None in it keeps that input size.

    >>> import symgrad as sg
    >>> sg.adaptive_avg_pool2d(sg.arange(16.0).reshape(1, 1, 4, 4), 1)
    tensor([[[[7.5000]]]])
    """
    def run(x4: Tensor) -> Tensor:
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(sizes) != 2:
            raise RuntimeError(f"adaptive_avg_pool2d: output_size must be an int or 2 ints, "
                               f"got {output_size!r}")
        out = tuple(builtins.int(n if o is None else o) for o, n in zip(sizes, x4.shape[2:]))
        if min(out) < 1 or min(x4.shape[2:]) < 1:
            raise RuntimeError(f"adaptive_avg_pool2d: output_size {out} and input size "
                               f"{tuple(x4.shape)} must be positive")
        return _apply(Op.ADAPTIVE_AVG_POOL2D, (x4,), {"output_size": out})

    return _unbatched(run, _t(input), 2, "adaptive_avg_pool2d")


# ----------------------------------------------------------------------------- interpolate
def _interp_size(shape: tuple, size: Any, scale_factor: Any,
                 recompute_scale_factor: Any) -> tuple[tuple, tuple]:
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: either size or scale_factor should be defined, and "
                         "only one of them")
    if size is not None:
        return _tuple(size, 2, "size"), (None, None)
    factors = tuple(builtins.float(f) for f in (scale_factor if isinstance(
        scale_factor, (tuple, list)) else (scale_factor,) * 2))
    if len(factors) != 2:
        raise ValueError(f"interpolate: scale_factor must be a number or 2 numbers for a 4-D "
                         f"input, got {scale_factor!r}")
    out = tuple(math.floor(n * f) for n, f in zip(shape[2:], factors))
    return out, ((None, None) if recompute_scale_factor else factors)


def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: Optional[bool] = None, recompute_scale_factor: Any = None,
                antialias: bool = False) -> Tensor:
    """Resize a 4-D (N, C, H, W) input to ``size`` or by ``scale_factor``, as PyTorch's.

    ``mode``: ``'nearest'`` or ``'bilinear'`` (``align_corners``, default False).

    >>> import symgrad as sg
    >>> sg.nn.functional.interpolate(sg.tensor([[[[1.0, 2.0]]]]), scale_factor=2)
    tensor([[[[1., 1., 2., 2.],
              [1., 1., 2., 2.]]]])
    """
    x = _t(input)
    if mode not in ("nearest", "bilinear"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; use "
                                  "'nearest' or 'bilinear'")
    if x.ndim != 4:
        raise NotImplementedError(f"interpolate: got {x.ndim}D input, but symgrad supports "
                                  f"4D (N, C, H, W) input only for mode {mode!r}")
    if align_corners is not None and mode == "nearest":
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    out, scales = _interp_size(tuple(x.shape), size, scale_factor, recompute_scale_factor)
    if min(out) < 1:
        raise ValueError(f"interpolate: output size {out} must be positive (input "
                         f"{tuple(x.shape)}, size={size!r}, scale_factor={scale_factor!r})")
    return _apply(Op.INTERPOLATE, (x,), {"size": out, "mode": mode,
                                         "align_corners": builtins.bool(align_corners),
                                         "scales": scales})


# ----------------------------------------------------------------------------- norms
def _affine(out: Tensor, weight: Any, bias: Any, shape: tuple) -> Tensor:
    if weight is not None:
        out = out * _reshape(_t(weight, out), shape)
    if bias is not None:
        out = out + _reshape(_t(bias, out), shape)
    return out


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-05) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims, then scale and shift, as PyTorch's.

    >>> import symgrad as sg
    >>> sg.layer_norm(sg.tensor([[1.0, 3.0]]), (2,), eps=0.0)
    tensor([[-1.,  1.]])
    """
    x = _t(input)
    shape = (builtins.int(normalized_shape),) if isinstance(
        normalized_shape, (builtins.int, np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size "
                           f"{list(x.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(_t(p).shape) != shape:
            raise RuntimeError(f"layer_norm: expected {name} of shape {shape} "
                               f"(normalized_shape), got {tuple(_t(p).shape)}")
    out = _apply(Op.STANDARDIZE, (x,), {"axis": tuple(range(x.ndim - k, x.ndim)),
                                        "eps": builtins.float(eps)})
    return _affine(out, weight, bias, shape)


def _update_running(stat: Optional[Tensor], batch: np.ndarray, momentum: float) -> None:
    if stat is None:
        return
    v = stat._need_value("batch_norm's running statistics")
    if not v.flags.writeable:
        stat.value = v = v.copy()
    v *= 1 - momentum
    v += momentum * batch.astype(v.dtype)
    mark_modified(stat)


def functional_batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,
                          bias: Any = None, training: bool = False, momentum: float = 0.1,
                          eps: float = 1e-05) -> Tensor:
    """Normalise each channel (dim 1) of ``input (N, C, *)``, as ``F.batch_norm``.

    ``training``: with the batch's mean and biased variance, updating the running
    statistics in place (``momentum``; the variance unbiased, as PyTorch);
    otherwise with ``running_mean`` and ``running_var``.

    >>> import symgrad as sg
    >>> rm, rv = sg.zeros(1), sg.ones(1)
    >>> sg.nn.functional.batch_norm(sg.tensor([[1.0], [3.0]]), rm, rv, training=True, eps=0.0)
    tensor([[-1.],
            [ 1.]])
    >>> rm, rv
    (tensor([0.2000]), tensor([1.1000]))
    """
    x = _t(input)
    if x.ndim < 2:
        raise RuntimeError(f"batch_norm: expected an input of at least 2 dims (N, C, *), got "
                           f"size {list(x.shape)}")
    c = x.shape[1]
    shape = (c,) + (1,) * (x.ndim - 2)
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if p is not None and tuple(_t(p).shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements (one per "
                               f"channel) not {math.prod(_t(p).shape)}")
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        n = math.prod(x.shape[a] for a in axes)
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {list(x.shape)}")
        out = _apply(Op.STANDARDIZE, (x,), {"axis": axes, "eps": builtins.float(eps)})
        if running_mean is not None or running_var is not None:
            v = x._need_value("batch_norm's running statistics")
            _update_running(running_mean, v.mean(axis=axes), momentum)
            _update_running(running_var, v.var(axis=axes, ddof=1), momentum)
        return _affine(out, weight, bias, shape)
    if running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be defined in "
                           "evaluation mode (training=False)")
    rm, rv = _reshape(_t(running_mean, x), shape), _reshape(_t(running_var, x), shape)
    out = (x - rm) / _apply(Op.SQRT, (rv + builtins.float(eps),), {})
    return _affine(out, weight, bias, shape)


def batch_norm(input: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
               training: bool, momentum: float, eps: float, cudnn_enabled: bool = True) -> Tensor:
    """``torch.batch_norm``'s argument order (weight and bias first); see ``F.batch_norm``.

    >>> import symgrad as sg
    >>> sg.batch_norm(sg.tensor([[1.0], [3.0]]), None, None, None, None, True, 0.1, 0.0)
    tensor([[-1.],
            [ 1.]])
    """
    return functional_batch_norm(input, running_mean, running_var, weight, bias, training,
                                 momentum, eps)


# ----------------------------------------------------------------------------- composed
def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The mask is drawn from the generator :func:`symgrad.manual_seed` seeds and enters
    the graph as a constant, so gradients and ``sg.diff`` are exact for the mask drawn.
    ``training=False`` (or ``p = 0``) returns ``input`` itself.

    >>> import symgrad as sg
    >>> sg.manual_seed(0)
    >>> sg.dropout(sg.ones(6), p=0.5)
    tensor([2., 0., 0., 0., 2., 2.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if inplace:
        raise NotImplementedError("dropout: inplace=True is not supported (it would rewrite "
                                  "recorded history); use the returned tensor")
    x = _t(input)
    if not training or p == 0.0:
        return x
    keep = creation._rng(None).random(x.shape) >= p
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    mask = keep.astype(dtype) * dtype.type(0.0 if p == 1.0 else 1.0 / (1.0 - p))
    return x * const(mask)


def functional_embedding(input: Any, weight: Any, padding_idx: Optional[int] = None,
                         max_norm: Optional[float] = None, norm_type: float = 2.0,
                         scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer ``input``, as ``torch.nn.functional.embedding``.

    ``padding_idx``: that row's entries are returned but get no gradient.

    >>> import symgrad as sg
    >>> w = sg.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> sg.nn.functional.embedding(sg.tensor([2, 0]), w)
    tensor([[4., 5.],
            [0., 1.]])
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are "
                                  "not supported")
    w = _t(weight)
    if w.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                           f"got size {tuple(w.shape)}")
    idx = np.asarray(input._need_value("embedding indices") if isinstance(input, Tensor)
                     else input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected integer indices (Long or Int), got dtype "
                           f"{idx.dtype}")
    rows = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"index out of range in self: embedding index {bad} is not in "
                         f"[0, {rows - 1}] (weight has {rows} rows)")
    out = _apply(Op.GETITEM, (w,), {"index": (idx.astype(np.int64),)})
    if padding_idx is None:
        return out
    pad = builtins.int(padding_idx)
    if not -rows <= pad < rows:
        raise AssertionError(f"Padding_idx must be within num_embeddings: got {pad} for "
                             f"{rows} rows")
    mask = idx == pad % rows
    if not mask.any():
        return out
    frozen = w._need_value("embedding with padding_idx")[idx]
    cond = const(np.broadcast_to(mask[..., None], out.shape).copy())
    return _apply(Op.WHERE, (cond, const(frozen), out), {})


def embedding(weight: Any, input: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """``torch.embedding``'s form: ``weight`` first; a negative ``padding_idx`` means none.

    >>> import symgrad as sg
    >>> sg.embedding(sg.tensor([[0.0, 1.0], [2.0, 3.0]]), sg.tensor([1]))
    tensor([[2., 3.]])
    """
    return functional_embedding(input, weight, None if padding_idx < 0 else padding_idx,
                                scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(q @ k.T * scale + mask) @ v`` over the last two dims, as PyTorch's.

    ``attn_mask``: bool (True takes part) or float (added); ``is_causal``: a
    lower-triangular mask; ``scale`` defaults to ``1 / sqrt(E)``.

    >>> import symgrad as sg
    >>> q = k = sg.ones(1, 2, 4); v = sg.tensor([[[1.0], [3.0]]])
    >>> sg.nn.functional.scaled_dot_product_attention(q, k, v)
    tensor([[[2.],
             [2.]]])
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
    q = _t(query)
    k, v = _t(key, q), _t(value, q)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] or \
            k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: expected query (..., L, E), key "
                         f"(..., S, E) and value (..., S, Ev), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)} and {tuple(v.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                           "set when is_causal=True")
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else builtins.float(scale)
    order = tuple(range(k.ndim - 2)) + (k.ndim - 1, k.ndim - 2)
    s = (q @ _apply(Op.PERMUTE, (k,), {"axes": order})) * factor
    if is_causal:
        attn_mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), bool))
    if attn_mask is not None:
        m = attn_mask._need_value("attn_mask") if isinstance(attn_mask, Tensor) \
            else np.asarray(attn_mask)
        if m.dtype == np.bool_:
            full = np.broadcast_shapes(m.shape, s.shape)
            s = _apply(Op.WHERE, (const(np.broadcast_to(m, full).copy()), s,
                                  const(-math.inf, s)), {})
        else:
            s = s + const(m.astype(s.dtype))
    a = _apply(Op.SOFTMAX, (s,), {"axis": s.ndim - 1})
    return dropout(a, dropout_p) @ v
