"""Loss functions, as ``torch.nn.functional``: one primitive per loss, reduction included.

Every loss takes ``reduction`` (``"none"``, ``"mean"`` or ``"sum"``; ``kl_div``
also ``"batchmean"``) as an attr and reduces inside its kernel, so one node is
one PyTorch call.  Class-index targets (``nll_loss``, ``cross_entropy``) are an
input without gradient: a compiled program reads new targets at every call.
Their values are checked in the kernel (an index outside ``[0, C)`` that is not
``ignore_index`` raises IndexError, as PyTorch); a float array of whole numbers
is accepted there too (the front end insists on an integer dtype).
Optional weights are inputs without gradient (PyTorch does not differentiate
them either); the front end passes ``1`` when none is given.

>>> mse_loss(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
array(2.5)
>>> nll_loss(np.log([[0.5, 0.5]]), np.array([3]), np.ones(2))
Traceback (most recent call last):
...
IndexError: Target 3 is out of bounds: class indices must be in [0, 2) (or equal ignore_index=-100)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from numeric.rules.core import FLOAT, apply, declare, elementwise_shape
from numeric.rules.elementwise import SIGMOID, SOFTPLUS
from numeric.rules.nn import LOG_SOFTMAX
from numeric.shapes import broadcast_shapes

_a = np.asarray


# ----------------------------------------------------------------------------- reduction
def _count(shape: tuple, reduction: str) -> int:
    """The divisor of a reduction: all elements (mean), the batch (batchmean), or 1."""
    if reduction == "mean":
        return int(np.prod(shape, dtype=np.int64))
    if reduction == "batchmean":
        return int(shape[0]) if len(shape) else 1
    return 1


def reduce_loss(loss: np.ndarray, reduction: str) -> np.ndarray:
    """``loss`` as is (``"none"``), summed, or summed and divided (mean, batchmean).

    >>> reduce_loss(np.float32([[1, 2], [3, 4]]), "batchmean")
    array(5., dtype=float32)
    """
    if reduction == "none":
        return _a(loss)
    total = np.add.reduce(loss, axis=None)
    return _a(total / _count(loss.shape, reduction) if reduction != "sum" else total)


def _scale(g: Any, shape: tuple, reduction: str) -> Any:
    """The cotangent each loss element receives (0-d for a reduced loss)."""
    n = _count(shape, reduction)
    return g / n if n != 1 else g


def _loss_shape(shapes, attrs):
    full = elementwise_shape(shapes, attrs)
    return full if attrs.get("reduction", "mean") == "none" else ()


def _pointwise(name: str, kernel: Any, vjps: tuple, doc: str, *, kinked: bool = False) -> Any:
    return declare(name, kernel, vjps, group="loss", arity=len(vjps), shape=_loss_shape,
                   dtype=FLOAT, sg=(), doc=doc, kinked=kinked)


def _grad(dloss: Any) -> Any:
    """A VJP from ``dloss(*inputs, **attrs)``, the elementwise derivative of the loss."""
    def vjp(g, out, *xs, reduction="mean", **attrs):
        shape = broadcast_shapes(*(x.shape for x in xs))
        c = _scale(g, shape, reduction) * dloss(*xs, **attrs)
        # a derivative free of the other input (kl_div's -t) may be narrower than the loss
        return c if c.shape == shape else np.broadcast_to(c, shape)
    return vjp


# ----------------------------------------------------------------------------- regression
def mse_loss(x: Any, t: Any, reduction: str = "mean") -> np.ndarray:
    """``(x - t) ** 2``, reduced."""
    d = _a(x) - _a(t)
    return reduce_loss(d * d, reduction)


def l1_loss(x: Any, t: Any, reduction: str = "mean") -> np.ndarray:
    """``|x - t|``, reduced."""
    return reduce_loss(np.abs(_a(x) - _a(t)), reduction)


def smooth_l1_loss(x: Any, t: Any, reduction: str = "mean", beta: float = 1.0) -> np.ndarray:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2`` (``beta > 0``)."""
    d = np.abs(_a(x) - _a(t))
    return reduce_loss(np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def huber_loss(x: Any, t: Any, reduction: str = "mean", delta: float = 1.0) -> np.ndarray:
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``."""
    d = np.abs(_a(x) - _a(t))
    return reduce_loss(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


# Note [Loss kinks] (PyTorch's conventions; docs/conventions.md): l1's derivative is
# sign(d), 0 at d = 0.  smooth_l1 and huber are C^1: their derivative at |d| = beta
# (delta) is +-1 (+-delta) from both sides; the second derivative is taken from the
# quadratic piece only strictly inside (0 at |d| = beta), as PyTorch's double backward.
def _d_smooth_l1(x, t, beta=1.0):
    d = x - t
    return np.where(d >= beta, 1, np.where(d <= -beta, -1, d / beta))


def _d_huber(x, t, delta=1.0):
    d = x - t
    return np.where(d >= delta, delta, np.where(d <= -delta, -delta, d))


MSE_LOSS = _pointwise("mse_loss", mse_loss,
                      (_grad(lambda x, t: 2 * (x - t)), _grad(lambda x, t: 2 * (t - x))),
                      "Mean squared error ``(input - target) ** 2``, reduced.")
L1_LOSS = _pointwise("l1_loss", l1_loss,
                     (_grad(lambda x, t: np.sign(x - t)), _grad(lambda x, t: np.sign(t - x))),
                     "Absolute error ``|input - target|``, reduced.", kinked=True)
SMOOTH_L1_LOSS = _pointwise(
    "smooth_l1_loss", smooth_l1_loss,
    (_grad(_d_smooth_l1), _grad(lambda x, t, beta=1.0: -_d_smooth_l1(x, t, beta))),
    "Quadratic below ``beta``, linear above (``beta = 0`` is ``l1_loss``).", kinked=True)
HUBER_LOSS = _pointwise(
    "huber_loss", huber_loss,
    (_grad(_d_huber), _grad(lambda x, t, delta=1.0: -_d_huber(x, t, delta))),
    "Quadratic below ``delta``, ``delta``-linear above.", kinked=True)


# ----------------------------------------------------------------------------- probabilities
def binary_cross_entropy(x: Any, t: Any, w: Any, reduction: str = "mean") -> np.ndarray:
    """``-w (t log x + (1 - t) log(1 - x))``, each log clamped to ``>= -100`` (PyTorch)."""
    x, t = _a(x), _a(t)
    if np.any((x < 0) | (x > 1)) or np.any(np.isnan(x)):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 "
                           "and 1 (probabilities); pass logits to "
                           "binary_cross_entropy_with_logits instead")
    with np.errstate(divide="ignore"):
        lx, l1x = np.maximum(np.log(x), -100), np.maximum(np.log1p(-x), -100)
    return reduce_loss(-_a(w) * (t * lx + (1 - t) * l1x), reduction)


def _bce_dx(x, t, w):
    # PyTorch's: (x - t) / max(x (1 - x), 1e-12)
    p = x * (1 - x)
    return w * (x - t) / np.where(p > 1e-12, p, 1e-12)


def _bce_dt(x, t, w):
    return w * (np.log(1 - x) - np.log(x))


def bce_with_logits(x: Any, t: Any, w: Any, pw: Any, reduction: str = "mean") -> np.ndarray:
    """``w ((1 - t) x + (1 + (pw - 1) t) softplus(-x))``, with a stable softplus."""
    x, t = _a(x), _a(t)
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
    return reduce_loss(_a(w) * ((1 - t) * x + (1 + (_a(pw) - 1) * t) * sp), reduction)


def _bcel_dx(x, t, w, pw):
    return w * ((1 + (pw - 1) * t) * apply(SIGMOID.op, x) - pw * t)


def _bcel_dt(x, t, w, pw):
    # d/dt = (pw - 1) softplus(-x) - x, and softplus(-x) = softplus(x) - x
    return w * ((pw - 1) * (apply(SOFTPLUS.op, x) - x) - x)


def kl_div(x: Any, t: Any, reduction: str = "mean", log_target: bool = False) -> np.ndarray:
    """``t (log t - x)`` (0 where ``t = 0``), or ``exp(t) (t - x)`` with ``log_target``."""
    x, t = _a(x), _a(t)
    if log_target:
        loss = np.exp(t) * (t - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x
    return reduce_loss(_a(loss), reduction)


def _kl_dx(x, t, log_target=False):
    return -np.exp(t) if log_target else -t


def _kl_dt(x, t, log_target=False):
    if log_target:
        return np.exp(t) * (t - x + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.log(t) + 1 - x) * (t > 0)     # nan at t = 0, as PyTorch


BINARY_CROSS_ENTROPY = _pointwise(
    "binary_cross_entropy", binary_cross_entropy, (_grad(_bce_dx), _grad(_bce_dt), None),
    "Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target``.")
BINARY_CROSS_ENTROPY_WITH_LOGITS = _pointwise(
    "binary_cross_entropy_with_logits", bce_with_logits,
    (_grad(_bcel_dx), _grad(_bcel_dt), None, None),
    "Binary cross-entropy of ``sigmoid(input)``, computed stably from the logits.")
KL_DIV = _pointwise("kl_div", kl_div, (_grad(_kl_dx), _grad(_kl_dt)),
                    "Kullback-Leibler divergence, ``input`` given as log-probabilities.")


# ----------------------------------------------------------------------------- class indices
def class_indices(t: Any, n_classes: int, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(safe targets, kept mask)``: IndexError for a class outside ``[0, C)``.

    An ignored target is replaced by class 0 in ``safe`` (and 0 in ``kept``).
    """
    t = _a(t)
    ti = t.astype(np.int64) if t.dtype.kind != "i" else t
    kept = ti != ignore_index
    bad = kept & ((ti < 0) | (ti >= n_classes))
    if np.any(bad):
        raise IndexError(f"Target {ti[bad].flat[0]} is out of bounds: class indices must be "
                         f"in [0, {n_classes}) (or equal ignore_index={ignore_index})")
    return np.where(kept, ti, 0), kept


def _classes_last(x: Any) -> Any:
    """Move the class dim (1 of ``(N, C, d1, ...)``) last."""
    n = x.ndim
    return np.transpose(x, (0,) + tuple(range(2, n)) + (1,)) if n > 2 else x


def _classes_back(x: Any, ndim: int) -> Any:
    return np.transpose(x, (0, ndim - 1) + tuple(range(1, ndim - 1))) if ndim > 2 else x


def _picked(t: Any, w: Any, n_classes: int, ignore_index: int):
    """``(one-hot of the targets (..., C), weight of each target (0 where ignored), kept)``.

    Written with the VJP vocabulary (the targets may be Tensors; Note [The VJP
    vocabulary]); the kernels check the targets first with :func:`class_indices`.
    """
    kept = np.where(t == ignore_index, 0, 1)
    onehot = np.expand_dims(np.where(t == ignore_index, 0, t), -1) == np.arange(n_classes)
    return onehot, np.sum(onehot * w, axis=(-1,)) * kept, kept


def _class_count(wt: Any, reduction: str) -> Any:
    """The mean's divisor: the summed weight of the kept targets (PyTorch's)."""
    return np.sum(wt) if reduction == "mean" else 1


def nll_loss(x: Any, t: Any, w: Any, ignore_index: int = -100,
             reduction: str = "mean") -> np.ndarray:
    """``-w[t] x[n, t[n]]`` over ``x`` of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``."""
    x = _a(x)
    xl = _classes_last(x)
    class_indices(t, xl.shape[-1], ignore_index)
    onehot, wt, _ = _picked(_a(t), _a(w), xl.shape[-1], ignore_index)
    loss = -wt * np.add.reduce(np.where(onehot, xl, 0), axis=-1)
    if reduction == "none":
        return _a(loss.astype(x.dtype, copy=False))
    total = np.add.reduce(loss, axis=None)
    return _a((total / _class_count(wt, reduction)).astype(x.dtype, copy=False))


def _nll_dx(g, out, x, t, w, *, ignore_index=-100, reduction="mean"):
    onehot, wt, _ = _picked(t, w, _classes_last(x).shape[-1], ignore_index)
    coef = g * (-wt / _class_count(wt, reduction))
    return _classes_back(np.expand_dims(coef, -1) * onehot, x.ndim)


def _log_softmax(x: Any, axis: int) -> Any:
    return apply(LOG_SOFTMAX.op, x, axis=axis)


def _ce_coef(t: Any, w: Any, c: int, ignore_index: int, eps: float):
    """Each class's weight in a row's loss, ``(1 - eps) w[t] [c = t] + eps / C w[c]`` (0 for
    an ignored row, PyTorch's label smoothing), and the weights of the targets."""
    onehot, wt, kept = _picked(t, w, c, ignore_index)
    coef = (1 - eps) * np.expand_dims(wt, -1) * onehot
    if eps:
        coef = coef + (eps / c) * w * np.expand_dims(kept, -1)
    return coef, wt


def cross_entropy(x: Any, t: Any, w: Any, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> np.ndarray:
    """``nll_loss(log_softmax(x, 1), t)`` with label smoothing (class-index targets)."""
    x = _a(x)
    axis = 1 if x.ndim > 1 else 0
    logp = _classes_last(_a(_log_softmax(x, axis)))
    class_indices(t, logp.shape[-1], ignore_index)
    coef, wt = _ce_coef(_a(t), _a(w), logp.shape[-1], ignore_index, label_smoothing)
    loss = -np.add.reduce(coef * logp, axis=-1)
    if reduction == "none":
        return _a(loss.astype(x.dtype, copy=False))
    total = np.add.reduce(loss, axis=None)
    return _a((total / _class_count(wt, reduction)).astype(x.dtype, copy=False))


def _ce_dx(g, out, x, t, w, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    axis = 1 if x.ndim > 1 else 0
    c = x.shape[axis]
    coef, wt = _ce_coef(t, w, c, ignore_index, label_smoothing)
    coef = coef / _class_count(wt, reduction)
    # d/dx of -sum_c coef_c logp_c = softmax * sum_c coef_c - coef
    p = _classes_last(np.exp(_log_softmax(x, axis)))
    gl = np.expand_dims(g, -1)
    return _classes_back(gl * (p * np.sum(coef, axis=(-1,), keepdims=True) - coef), x.ndim)


def cross_entropy_probs(x: Any, t: Any, w: Any, reduction: str = "mean",
                        label_smoothing: float = 0.0) -> np.ndarray:
    """``-sum_c w[c] t'[c] log_softmax(x)[c]`` with ``t' = (1 - eps) t + eps / C``."""
    x = _a(x)
    axis = 1 if x.ndim > 1 else 0
    logp = _classes_last(_a(_log_softmax(x, axis)))
    c = logp.shape[-1]
    ts = _classes_last(_a(t)) * (1 - label_smoothing) + label_smoothing / c
    loss = -np.add.reduce(logp * ts * np.broadcast_to(_a(w), (c,)), axis=-1)
    if reduction == "none":
        return _a(loss)
    total = np.add.reduce(loss, axis=None)
    return _a(total / loss.size if reduction == "mean" else total)


def _probs_g(g, x, reduction):
    axis = 1 if x.ndim > 1 else 0
    n = int(np.prod(x.shape, dtype=np.int64)) // x.shape[axis]
    return np.expand_dims(g / n if reduction == "mean" else g, -1), axis


def _cep_dx(g, out, x, t, w, *, reduction="mean", label_smoothing=0.0):
    gl, axis = _probs_g(g, x, reduction)
    c = x.shape[axis]
    wt = _classes_last(t) * (1 - label_smoothing) + label_smoothing / c
    wt = wt * np.broadcast_to(w, (c,))
    p = _classes_last(np.exp(_log_softmax(x, axis)))
    return _classes_back(gl * (p * np.sum(wt, axis=(-1,), keepdims=True) - wt), x.ndim)


def _cep_dt(g, out, x, t, w, *, reduction="mean", label_smoothing=0.0):
    gl, axis = _probs_g(g, x, reduction)
    c = x.shape[axis]
    logp = _classes_last(_log_softmax(x, axis))
    return _classes_back(-(1 - label_smoothing) * gl * logp * np.broadcast_to(w, (c,)), x.ndim)


def _class_shape(shapes, attrs):
    x = tuple(shapes[0])
    if attrs.get("reduction", "mean") != "none":
        return ()
    return x[:1] + x[2:] if len(x) > 1 else ()


def _class_loss(name: str, kernel: Any, vjps: tuple, doc: str) -> Any:
    return declare(name, kernel, vjps, group="loss", arity=3, shape=_class_shape,
                   dtype=lambda dtypes, attrs: FLOAT(dtypes[:1], attrs), sg=(), doc=doc)


NLL_LOSS = _class_loss("nll_loss", nll_loss, (_nll_dx, None, None),
                       "Negative log-likelihood of class-index targets, given log-probabilities.")
CROSS_ENTROPY = _class_loss("cross_entropy", cross_entropy, (_ce_dx, None, None),
                            "Softmax cross-entropy of logits against class-index targets.")
CROSS_ENTROPY_PROBS = declare(
    "cross_entropy_probs", cross_entropy_probs, (_cep_dx, _cep_dt, None), group="loss",
    arity=3, shape=_class_shape, dtype=lambda dtypes, attrs: FLOAT(dtypes[:2], attrs), sg=(),
    doc="Softmax cross-entropy of logits against class probabilities (same shape).")


# ----------------------------------------------------------------------------- similarity
def _norms(x1: Any, x2: Any, dim: int, eps: float):
    """The norms along ``dim`` (kept), and the norms clamped to ``eps``."""
    n1 = np.sum(x1 * x1, axis=(dim,), keepdims=True) ** 0.5
    n2 = np.sum(x2 * x2, axis=(dim,), keepdims=True) ** 0.5
    return n1, n2, np.where(n1 > eps, n1, eps), np.where(n2 > eps, n2, eps)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> np.ndarray:
    """``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps), dim)`` (PyTorch's formula)."""
    x1, x2 = np.broadcast_arrays(_a(x1), _a(x2))
    _, _, c1, c2 = _norms(x1, x2, dim, eps)
    return _a(np.add.reduce((x1 / c1) * (x2 / c2), axis=dim))


def _cos_vjp(first: bool):
    # PyTorch clamps the norms without recording it: the norm's own derivative
    # x / |x| (0 at x = 0) is used, evaluated with the clamped norms elsewhere
    def vjp(g, out, x1, x2, *, dim=1, eps=1e-8):
        shape = broadcast_shapes(x1.shape, x2.shape)
        x1, x2 = np.broadcast_to(x1, shape), np.broadcast_to(x2, shape)
        n1, n2, c1, c2 = _norms(x1, x2, dim, eps)
        a, na, ca, cb, b = (x1, n1, c1, c2, x2) if first else (x2, n2, c2, c1, x1)
        gk = np.expand_dims(g, dim)
        dots = np.sum(a * b, axis=(dim,), keepdims=True)
        unit = np.where(na > 0, a / np.where(na > 0, na, 1), 0)
        return gk * (b / (ca * cb) - dots / (ca * ca * cb) * unit)
    return vjp


def _cos_shape(shapes, attrs):
    full = broadcast_shapes(*shapes)
    d = attrs.get("dim", 1)
    return full[:d] + full[d + 1:]


COSINE_SIMILARITY = declare(
    "cosine_similarity", cosine_similarity, (_cos_vjp(True), _cos_vjp(False)), group="loss",
    arity=2, shape=_cos_shape, dtype=FLOAT, sg="cosine_similarity", methods=(), kinked=True,
    doc="Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (norms clamped to "
        "``eps``).")
