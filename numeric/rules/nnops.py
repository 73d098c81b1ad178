"""Neural-network ops: convolution, pooling, interpolation, standardization.

Layouts are PyTorch's: ``(N, C, *spatial)`` inputs, ``(O, C / groups, *kernel)``
conv weights.  The windowed ops gather their windows with one advanced index
(im2col, Note [Windows as an index]) and reduce or multiply them with numpy, so
no Python loop runs over pixels; their VJPs scatter back with the same index
through ``GETITEM``/``SCATTER_ADD``, which also run on symgrad Tensors, so
``create_graph=True`` differentiates them again.

Interpolation and adaptive average pooling are separable linear maps: a matrix
per spatial dim, ``A_h @ x @ A_w.T`` (Note [Separable maps]).

>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> convolution(x, np.ones((1, 1, 2, 2)), stride=(2, 2), padding=((0, 0), (0, 0)),
...             dilation=(1, 1), groups=1)[0, 0]
array([[10., 18.],
       [42., 50.]])
>>> max_pool2d(x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
...            ceil_mode=False)[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np

from numeric.errors import ShapeError
from numeric.rules.core import FLOAT, apply, declare, floats
from numeric.rules.movement import SCATTER_ADD

_a = np.asarray
_ALL = slice(None)


# ----------------------------------------------------------------------------- windows
# Note [Windows as an index]: for spatial dim i with kernel k_i, dilation d_i,
# stride s_i and output size o_i, the input rows a window reads are
# ``k * d_i + o * s_i``: an int array of shape (K_i, O_i), spread over 2n axes so
# that ``xp[:, :, idx_1, ..., idx_n]`` (the advanced indices are adjacent) is
# ``(N, C, K_1..K_n, O_1..O_n)`` -- every window of the padded input at once.
# The adjoint of that gather is SCATTER_ADD with the same index, which adds the
# overlapping windows' contributions.
@functools.lru_cache(maxsize=256)
def window_index(kernel: tuple, dilation: tuple, stride: tuple, out: tuple) -> tuple:
    """The advanced index of every window (Note [Windows as an index])."""
    n = len(kernel)
    idx = []
    for i, (k, d, s, o) in enumerate(zip(kernel, dilation, stride, out)):
        shape = [1] * (2 * n)
        shape[i], shape[n + i] = k, o
        rows = np.arange(k)[:, None] * d + np.arange(o)[None, :] * s
        idx.append(rows.reshape(shape))
    return (_ALL, _ALL) + tuple(idx)


def out_size(size: int, k: int, s: int, lo: int, hi: int, d: int = 1) -> int:
    """Windows along one dim: ``floor((size + lo + hi - d*(k-1) - 1) / s) + 1``."""
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _pad(x: Any, padding: Sequence[tuple]) -> Any:
    """Zero padding as the adjoint of a slice, so it also runs on Tensors."""
    if not any(lo or hi for lo, hi in padding):
        return x
    shape = tuple(x.shape[:2]) + tuple(n + lo + hi for n, (lo, hi) in
                                       zip(x.shape[2:], padding))
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], padding))
    return apply(SCATTER_ADD.op, x, shape=shape, index=(_ALL, _ALL) + inner)


def _unpad(xp: Any, shape: tuple, padding: Sequence[tuple]) -> Any:
    if not any(lo or hi for lo, hi in padding):
        return xp
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape[2:], padding))
    return xp[(_ALL, _ALL) + inner]


def _gather(x: Any, index: tuple, padding: Sequence[tuple]) -> Any:
    return _pad(x, padding)[index]


def _scatter(cols: Any, x_shape: tuple, index: tuple, padding: Sequence[tuple]) -> Any:
    padded = tuple(x_shape[:2]) + tuple(n + lo + hi for n, (lo, hi) in
                                        zip(x_shape[2:], padding))
    return _unpad(apply(SCATTER_ADD.op, cols, shape=padded, index=index), x_shape, padding)


# ----------------------------------------------------------------------------- convolution
def _conv_geometry(x_shape: tuple, w_shape: tuple, stride, padding, dilation) -> tuple:
    return tuple(out_size(n, k, s, lo, hi, d) for n, k, s, (lo, hi), d in
                 zip(x_shape[2:], w_shape[2:], stride, padding, dilation))


def _conv_shape(shapes, attrs):
    x, w = (tuple(s) for s in shapes)
    n = len(w) - 2
    if len(x) != n + 2:
        raise ShapeError(f"conv{n}d: expected a {n + 2}-D input (N, C, *spatial) for a weight "
                         f"of shape {w}, got shape {x}")
    g = attrs["groups"]
    if isinstance(x[1], int) and isinstance(w[1], int) and x[1] != w[1] * g:
        raise ShapeError(f"conv{n}d: expected input {x} to have {w[1] * g} channels "
                         f"(weight {w} with groups={g}), but got {x[1]} channels instead")
    if not all(isinstance(d, int) for d in x[2:] + w[2:]):
        raise ShapeError(f"conv{n}d needs concrete spatial sizes, got {x} and {w}")
    out = _conv_geometry(x, w, attrs["stride"], attrs["padding"], attrs["dilation"])
    if min(out) < 1:
        raise ShapeError(f"conv{n}d: the (padded) input {x} is smaller than the (dilated) "
                         f"kernel {w}; output size would be {out}")
    return (x[0], w[0]) + out


# Note [Convolution as one GEMM per group]: the windows (N, C, K..., O...) are laid
# out as (G, C/G * K, N * O) (or transposed, (G, N * O, C/G * K), for the weight
# gradient) so that each group is one large matrix product with its (O/G, C/G * K)
# weights: numpy's matmul over a stack of small matrices, or over a stack whose
# last two axes are swapped, is several times slower than one BLAS call.
def _columns(cols: Any, groups: int) -> Any:
    """(N, C, K..., O...) windows as (G, C/G * K, N * O) matrices."""
    n = (cols.ndim - 2) // 2
    order = (1,) + tuple(range(2, 2 + n)) + (0,) + tuple(range(2 + n, 2 + 2 * n))
    moved = np.transpose(cols, order)
    return np.reshape(moved, (groups, -1, cols.shape[0] * math.prod(cols.shape[2 + n:])))


def _rows(cols: Any, groups: int) -> Any:
    """(N, C, K..., O...) windows as (G, N * O, C/G * K) matrices (the transposed layout)."""
    n = (cols.ndim - 2) // 2
    order = (0,) + tuple(range(2 + n, 2 + 2 * n)) + (1,) + tuple(range(2, 2 + n))
    per_group = math.prod(cols.shape[1:2 + n]) // groups
    return np.transpose(np.reshape(np.transpose(cols, order), (-1, groups, per_group)), (1, 0, 2))


def _uncolumns(cm: Any, shape: tuple) -> Any:
    """The inverse of :func:`_columns`: back to (N, C, K..., O...) of ``shape``."""
    n = (len(shape) - 2) // 2
    moved = np.reshape(cm, (shape[1],) + shape[2:2 + n] + (shape[0],) + shape[2 + n:])
    order = (1 + n, 0) + tuple(range(1, 1 + n)) + tuple(range(2 + n, 2 + 2 * n))
    return np.transpose(moved, order)


def _weights(w: Any, groups: int) -> Any:
    return np.reshape(w, (groups, w.shape[0] // groups, -1))


def _out_matrix(g: Any, groups: int) -> Any:
    """The (N, O, O...) output as (G, O/G, N * O...)."""
    moved = np.transpose(g, (1, 0) + tuple(range(2, g.ndim)))
    return np.reshape(moved, (groups, g.shape[1] // groups, -1))


def convolution(x: Any, w: Any, *, stride: tuple, padding: tuple, dilation: tuple,
                groups: int) -> np.ndarray:
    """Cross-correlation of ``x (N, C, *S)`` with ``w (O, C/groups, *K)`` (PyTorch's conv)."""
    x, w = floats(x), floats(w)
    dtype = np.result_type(x, w)
    out = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    index = window_index(w.shape[2:], dilation, stride, out)
    cols = np.pad(x, ((0, 0), (0, 0)) + tuple(padding))[index]
    y = np.matmul(_weights(w, groups), _columns(cols, groups))
    y = y.reshape((w.shape[0], x.shape[0]) + out)
    return _a(np.ascontiguousarray(np.moveaxis(y, 0, 1)), dtype)


def _conv_vjp_x(g, out, x, w, *, stride, padding, dilation, groups):
    shape = tuple(out.shape[2:])
    index = window_index(tuple(w.shape[2:]), dilation, stride, shape)
    cm = np.matmul(np.swapaxes(_weights(w, groups), -1, -2), _out_matrix(g, groups))
    cols = _uncolumns(cm, tuple(x.shape[:2]) + tuple(w.shape[2:]) + shape)
    return _scatter(cols, tuple(x.shape), index, padding)


def _conv_vjp_w(g, out, x, w, *, stride, padding, dilation, groups):
    shape = tuple(out.shape[2:])
    index = window_index(tuple(w.shape[2:]), dilation, stride, shape)
    dw = np.matmul(_out_matrix(g, groups), _rows(_gather(x, index, padding), groups))
    return np.reshape(dw, tuple(w.shape))


CONVOLUTION = declare(
    "convolution", convolution, (_conv_vjp_x, _conv_vjp_w), group="linalg", arity=2,
    shape=_conv_shape, dtype=FLOAT, sg=("conv1d", "conv2d"), methods=(),
    doc="Convolution (cross-correlation) with ``stride``, ``padding`` (int, tuple, "
        "'valid', 'same'), ``dilation``, ``groups``; ``bias`` adds per channel.")


# ----------------------------------------------------------------------------- pooling
def pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size (``ceil_mode``: the last window must start inside)."""
    span = size + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_geometry(shape: tuple, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    """(output sizes, padding pairs covering every window) of a 2-D pooling."""
    out = tuple(pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                zip(shape[2:], kernel, stride, padding, dilation))
    pads = tuple((p, max(0, (o - 1) * s + d * (k - 1) + 1 - n - p)) for n, k, s, p, d, o in
                 zip(shape[2:], kernel, stride, padding, dilation, out))
    return out, pads


def _pool_shape(shapes, attrs):
    x = tuple(shapes[0])
    if len(x) != 4 or not all(isinstance(d, int) for d in x[2:]):
        raise ShapeError(f"2-D pooling expects a 4-D input (N, C, H, W) with concrete H, W, "
                         f"got shape {x}")
    out, _ = _pool_geometry(x, attrs["kernel"], attrs["stride"], attrs["padding"],
                            attrs.get("dilation", (1, 1)), attrs["ceil_mode"])
    if min(out) < 1:
        raise ShapeError(f"pooling: input {x} is too small for kernel {attrs['kernel']}; "
                         f"output size would be {out}")
    return x[:2] + out


def _max_windows(x: np.ndarray, kernel, stride, padding, dilation, ceil_mode):
    out, pads = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    index = window_index(tuple(kernel), tuple(dilation), tuple(stride), out)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads, constant_values=-np.inf)
    return xp[index].reshape(x.shape[:2] + (-1,) + out), out, pads


def max_pool_argmax(x: Any, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    """Where each window's maximum is: the padded (row, col) arrays, shape (N, C, OH, OW).

    The first maximum in the window's row-major order wins, as in PyTorch; a NaN
    is a maximum.
    """
    x = floats(_a(x))
    win, out, pads = _max_windows(x, kernel, stride, padding, dilation, ceil_mode)
    k = np.argmax(np.where(np.isnan(win), np.inf, win), axis=2)
    kh, kw = np.divmod(k, kernel[1])
    rows = kh * dilation[0] + np.arange(out[0])[:, None] * stride[0]
    cols = kw * dilation[1] + np.arange(out[1])[None, :] * stride[1]
    return rows, cols, pads


def max_pool2d(x: Any, *, kernel, stride, padding, dilation, ceil_mode) -> np.ndarray:
    """The maximum of each (dilated) window; padding counts as -inf."""
    x = floats(x)
    win, _, _ = _max_windows(x, kernel, stride, padding, dilation, ceil_mode)
    return _a(np.max(win, axis=2))


@functools.lru_cache(maxsize=64)
def _earlier(k: int) -> np.ndarray:
    """(k, k) with ones above the diagonal: ``m @ _earlier(k)`` counts the earlier ``m``."""
    return np.triu(np.ones((k, k)), 1)


def _max_pool_vjp(g, out, x, *, kernel, stride, padding, dilation, ceil_mode):
    # The first maximum of each window, from the values but without reading them
    # into numpy (so this runs on Tensors): the window entries equal to the output,
    # inside the input, with no earlier such entry (Note [Windows as an index]).
    shape = tuple(x.shape)
    o, pads = _pool_geometry(shape, kernel, stride, padding, dilation, ceil_mode)
    index = window_index(tuple(kernel), tuple(dilation), tuple(stride), o)
    k = kernel[0] * kernel[1]
    last = lambda t: np.transpose(np.reshape(t, tuple(t.shape[:2]) + (k,) + o),  # noqa: E731
                                  (0, 1, 3, 4, 2))
    inside = last(np.pad(np.ones(shape[2:], g.dtype), pads)[index[2:]][None, None])
    hit = np.where(last(_gather(x, index, pads)) == np.expand_dims(out, -1), inside, 0.0)
    first = np.where(np.matmul(hit, _earlier(k).astype(g.dtype)) == 0, hit, 0.0)
    cols = np.transpose(first * np.expand_dims(g, -1), (0, 1, 4, 2, 3))
    return _scatter(np.reshape(cols, shape[:2] + tuple(kernel) + o), shape, index, pads)


MAX_POOL2D = declare(
    "max_pool2d", max_pool2d, (_max_pool_vjp,), group="linalg", arity=1, shape=_pool_shape,
    dtype=FLOAT, sg="max_pool2d", methods=(), kinked=True, at_point=True,
    doc="Maximum over each ``kernel_size`` window (``stride``, ``padding``, ``dilation``, "
        "``ceil_mode``); the gradient goes to the window's first maximum.")


def avg_divisor(shape: tuple, kernel, stride, padding, ceil_mode, count_include_pad) -> np.ndarray:
    """PyTorch's per-window divisor of ``avg_pool2d``, shape (OH, OW).

    Windows are clipped to the padded input; ``count_include_pad=False`` counts
    only the input elements they cover.
    """
    sizes = []
    for n, k, s, p in zip(shape[2:], kernel, stride, padding):
        o = pool_out(n, k, s, p, 1, ceil_mode)
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        sizes.append(end - start)
    return np.multiply.outer(*sizes)


def _avg_geometry(shape, kernel, stride, padding, ceil_mode):
    out, pads = _pool_geometry(shape, kernel, stride, padding, (1, 1), ceil_mode)
    return out, pads, window_index(tuple(kernel), (1, 1), tuple(stride), out)


def avg_pool2d(x: Any, *, kernel, stride, padding, ceil_mode, count_include_pad) -> np.ndarray:
    """The mean of each window (zero padding; divisor as :func:`avg_divisor`)."""
    x = floats(x)
    out, pads, index = _avg_geometry(x.shape, kernel, stride, padding, ceil_mode)
    div = avg_divisor(x.shape, kernel, stride, padding, ceil_mode, count_include_pad)
    total = np.sum(np.pad(x, ((0, 0), (0, 0)) + pads)[index], axis=(2, 3))
    return _a(total / div.astype(x.dtype))


def _avg_pool_vjp(g, out, x, *, kernel, stride, padding, ceil_mode, count_include_pad):
    shape = tuple(x.shape)
    o, pads, index = _avg_geometry(shape, kernel, stride, padding, ceil_mode)
    div = avg_divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad)
    per = np.reshape(g / div.astype(g.dtype), shape[:2] + (1, 1) + o)
    cols = np.broadcast_to(per, shape[:2] + tuple(kernel) + o)
    return _scatter(cols, shape, index, pads)


AVG_POOL2D = declare(
    "avg_pool2d", avg_pool2d, (_avg_pool_vjp,), group="linalg", arity=1, shape=_pool_shape,
    dtype=FLOAT, sg="avg_pool2d", methods=(),
    doc="Mean over each ``kernel_size`` window (``stride``, ``padding``, ``ceil_mode``, "
        "``count_include_pad``).")


# ----------------------------------------------------------------------------- separable maps
# Note [Separable maps]: adaptive average pooling and nearest/bilinear
# interpolation act on H and W independently: out = A_h @ x @ A_w.T with an
# (out, in) matrix per dim.  The kernel and the VJP (A_h.T @ g @ A_w) are two
# matmuls; the matrices depend only on the sizes and options, so are cached.
def _separable(x: Any, mats: tuple) -> Any:
    ah, aw = mats
    return np.matmul(np.matmul(ah, x), np.swapaxes(aw, 0, 1))


def _separable_vjp(g: Any, mats: tuple) -> Any:
    ah, aw = (m.astype(g.dtype) for m in mats)
    return np.matmul(np.matmul(np.swapaxes(ah, 0, 1), g), aw)


def adaptive_bounds(size: int, out: int) -> list:
    """PyTorch's adaptive windows ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


@functools.lru_cache(maxsize=256)
def adaptive_matrix(size: int, out: int) -> np.ndarray:
    """The (out, size) averaging matrix of adaptive average pooling along one dim."""
    m = np.zeros((out, size))
    for i, (lo, hi) in enumerate(adaptive_bounds(size, out)):
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive_mats(shape: tuple, output_size: tuple, dtype: Any) -> tuple:
    return tuple(adaptive_matrix(n, o).astype(dtype) for n, o in zip(shape[2:], output_size))


def adaptive_avg_pool2d(x: Any, *, output_size: tuple) -> np.ndarray:
    """Mean over ``output_size`` windows that tile the input (PyTorch's bounds)."""
    x = floats(x)
    return _a(_separable(x, _adaptive_mats(x.shape, output_size, x.dtype)))


def _resize_shape(shapes, attrs, key):
    x = tuple(shapes[0])
    if len(x) != 4:
        raise ShapeError(f"expected a 4-D input (N, C, H, W), got shape {x}")
    return x[:2] + tuple(attrs[key])


ADAPTIVE_AVG_POOL2D = declare(
    "adaptive_avg_pool2d", adaptive_avg_pool2d,
    (lambda g, out, x, *, output_size:
     _separable_vjp(g, _adaptive_mats(tuple(x.shape), output_size, np.float64)),),
    group="linalg", arity=1, shape=lambda s, a: _resize_shape(s, a, "output_size"),
    dtype=FLOAT, sg="adaptive_avg_pool2d", methods=(),
    doc="Mean over the windows that tile the input into ``output_size`` cells.")


def _nearest_matrix(size: int, out: int, scale: Any) -> np.ndarray:
    # PyTorch: src = min(floor(dst * s), size - 1) with s = 1/scale_factor or size/out
    s = np.float32(1.0 / scale if scale else size / out)
    src = np.minimum(np.floor(np.arange(out, dtype=np.float32) * s).astype(int), size - 1)
    m = np.zeros((out, size))
    m[np.arange(out), src] = 1.0
    return m


def _linear_matrix(size: int, out: int, scale: Any, align_corners: bool) -> np.ndarray:
    # PyTorch's area_pixel_compute_source_index, clamped at 0, neighbours i0 and i0 + 1
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        src = dst * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        s = 1.0 / scale if scale else size / out
        src = np.maximum(s * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = src - i0
    m = np.zeros((out, size))
    np.add.at(m, (np.arange(out), i0), 1.0 - lam)
    np.add.at(m, (np.arange(out), i1), lam)
    return m


@functools.lru_cache(maxsize=256)
def interpolation_matrix(size: int, out: int, mode: str, align_corners: bool,
                         scale: Any) -> np.ndarray:
    """The (out, size) matrix of ``interpolate`` along one dim (``mode``: nearest, bilinear)."""
    if mode == "nearest":
        return _nearest_matrix(size, out, scale)
    return _linear_matrix(size, out, scale, align_corners)


def _interp_mats(shape: tuple, size, mode, align_corners, scales, dtype) -> tuple:
    return tuple(interpolation_matrix(n, o, mode, bool(align_corners), sc).astype(dtype)
                 for n, o, sc in zip(shape[2:], size, scales))


def interpolate(x: Any, *, size: tuple, mode: str, align_corners: bool,
                scales: tuple) -> np.ndarray:
    """Resize (N, C, H, W) to ``size`` by ``mode`` 'nearest' or 'bilinear' (PyTorch's grid)."""
    x = floats(x)
    return _a(_separable(x, _interp_mats(x.shape, size, mode, align_corners, scales, x.dtype)))


INTERPOLATE = declare(
    "interpolate", interpolate,
    (lambda g, out, x, *, size, mode, align_corners, scales:
     _separable_vjp(g, _interp_mats(tuple(x.shape), size, mode, align_corners, scales,
                                    np.float64)),),
    group="linalg", arity=1, shape=lambda s, a: _resize_shape(s, a, "size"), dtype=FLOAT,
    sg="interpolate", methods=(),
    doc="Resize to ``size`` (or by ``scale_factor``): ``mode`` 'nearest' or 'bilinear' "
        "(``align_corners``), 4-D input.")


# ----------------------------------------------------------------------------- standardize
def standardize(x: Any, *, axis: tuple, eps: float) -> np.ndarray:
    """``(x - mean) / sqrt(var + eps)`` over ``axis`` (biased variance): layer/batch norm."""
    x = floats(x)
    d = x - np.mean(x, axis=axis, keepdims=True)
    var = np.mean(d * d, axis=axis, keepdims=True)
    return _a(d / np.sqrt(var + x.dtype.type(eps)))


def _standardize_vjp(g, out, x, *, axis, eps):
    n = math.prod(x.shape[a] for a in axis)
    d = x - np.sum(x, axis=axis, keepdims=True) / n
    rstd = (np.sum(d * d, axis=axis, keepdims=True) / n + eps) ** -0.5
    return rstd * (g - np.sum(g, axis=axis, keepdims=True) / n
                   - out * (np.sum(g * out, axis=axis, keepdims=True) / n))


STANDARDIZE = declare(
    "standardize", standardize, (_standardize_vjp,), group="linalg", arity=1,
    shape=lambda shapes, attrs: tuple(shapes[0]), dtype=FLOAT,
    sg=("layer_norm", "batch_norm"), methods=(),
    doc="``(x - mean) / sqrt(var + eps)`` over the normalized dims, then ``weight``, "
        "``bias``; batch_norm: per channel, batch or running statistics.")
