"""Data-parallel gradients: one compiled loss on every chunk, a fixed-order tree sum.

Note [Fixed-order tree sum]
    Chunk ``i``'s result is ``(rows, loss, grads)``.  Results are added pairwise by
    chunk index -- (0+1), (2+3), ... then those pairs, and so on -- whichever worker
    computed them and whenever they finished, so the floating-point sum is the same
    from run to run and for any number of workers; it differs from one in-memory sum
    over all rows only by rounding (1e-12 relative and better in float64).

Note [What a worker holds]
    The loss and its parameters are pickled together once per :class:`DataParallel`
    (with ``cloudpickle``, the function by value, so a module-level loss that reads
    module-level parameters takes *those* objects along) and scattered to every
    worker.  Each step scatters only the parameters' current values (one broadcast
    per step, not per chunk); a worker copies them into its copies of the
    parameters, runs its own ``sg.compile``d loss on the chunk and returns the
    gradients.  Each worker thread keeps its own copy, so threads never share a
    ``.grad``.

>>> import numpy as np, symgrad as sg
>>> w = sg.zeros(2, requires_grad=True)
>>> def loss(X, y):
...     return ((X @ w - y) ** 2).mean()
>>> dp = DataParallel(loss, [w])
>>> isinstance(dp.params[0], sg.Tensor), dp.reduction
(True, 'mean')
"""
from __future__ import annotations

import math
import sys
import threading
import warnings
from typing import Any, Callable, Optional, Sequence

import cloudpickle
import dask
import numpy as np

from symgrad.distributed import cluster
from symgrad.distributed.chunks import Blocks, Chunk, ChunkError, as_array, blocks, check
from symgrad.errors import TrainingDiverged

__all__ = ["DataParallel", "fit"]

REDUCTIONS = ("mean", "sum")
BATCHES = ("full", "chunk")
#: times a step is sent again after its scattered inputs were lost with their workers
RETRIES = 3


# ------------------------------------------------------------------ on the workers
class _Program:
    """The loss and its parameters, pickled once; each worker thread unpickles its own."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {"blob": self.blob}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["blob"])

    def _mine(self) -> tuple:
        mine = getattr(self._local, "mine", None)
        if mine is None:
            import symgrad as sg
            from symgrad.compile import CompiledFunction

            loss, params = cloudpickle.loads(self.blob)
            if not isinstance(loss, CompiledFunction):
                loss = sg.compile(loss, cache_limit=64)  # chunk sizes vary: a trace each
            mine = self._local.mine = (loss, params)
        return mine

    def run(self, values: tuple, arrays: list, reduction: str, where: Chunk) -> tuple:
        """``(rows, loss, grads)`` of one chunk (loss and grads times rows for a mean)."""
        import symgrad as sg
        from symgrad.compile import CompileWarning

        loss_fn, params = self._mine()
        for p, v in zip(params, values):
            np.copyto(p.value, v)
            p.grad = None
        data = [sg.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            traces = getattr(loss_fn, "traces", 0)
            out = loss_fn(*data)
            if getattr(loss_fn, "traces", 0) != traces:
                # a tracing call returns eager values (Note [First call] in
                # symgrad/compile.py), which may differ from the Program's in the last
                # bit; every chunk uses the Program so a rerun elsewhere is bit-identical
                out = loss_fn(*data)
        if not isinstance(out, sg.Tensor) or out.ndim != 0:
            raise TypeError(f"the loss must return a 0-d Tensor (a mean or a sum over the "
                            f"chunk's rows), got {_what(out)} on {where}")
        out.backward()
        missing = [k for k, p in enumerate(params) if p.grad is None]
        if missing:
            raise ValueError(
                f"parameter(s) {missing} do not reach the loss on the workers: the loss must "
                "read its parameters (captured in a closure, module attributes, or an "
                "nn.Module's parameters), and every parameter passed must be used")
        rows = arrays[0].shape[0]
        value = out.value.astype(np.float64, copy=False)
        grads = tuple(p.grad.value for p in params)
        if reduction == "mean":
            value, grads = value * rows, tuple(g * rows for g in grads)
        return rows, float(value), grads


def _what(out: Any) -> str:
    shape = getattr(out, "shape", None)
    return f"a {type(out).__name__} of shape {tuple(shape)}" if shape is not None \
        else type(out).__name__


class _Failed:
    """A chunk's :class:`ChunkError`, carried up the tree as a value so that, of several
    bad chunks, the first one by index is reported, whichever finished first."""

    def __init__(self, index: int, error: ChunkError) -> None:
        self.index, self.error = index, error


def _chunk_task(program: _Program, values: tuple, where: Chunk, trailing: list,
                reduction: str, *parts: Any) -> Any:
    try:
        arrays = [as_array(p) for p in parts]
        check(arrays, where, trailing)
    except ChunkError as exc:
        return _Failed(where.index, exc)
    return program.run(values, arrays, reduction, where)


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _Failed) or isinstance(b, _Failed):
        failed = [r for r in (a, b) if isinstance(r, _Failed)]
        return min(failed, key=lambda r: r.index)
    return a[0] + b[0], a[1] + b[1], tuple(x + y for x, y in zip(a[2], b[2]))


def _tree(leaves: list) -> Any:
    """Pairwise sums by position (Note [Fixed-order tree sum])."""
    level = list(leaves)
    while len(level) > 1:
        nxt = [dask.delayed(_add, pure=False)(level[i], level[i + 1])
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# ------------------------------------------------------------------ on the client
#: materialized bytes in a dask graph above which the data is persisted on the cluster
HELD_BYTES = 1 << 20


def _held_bytes(graph: Any) -> int:
    """Bytes of data held in ``graph`` itself (numpy arrays, pandas objects)."""
    total = 0
    for v in graph.values():
        v = getattr(v, "value", v) if type(v).__name__ == "DataNode" else v
        nbytes = getattr(v, "nbytes", None)
        if isinstance(nbytes, (int, np.integer)) and not callable(v):
            total += int(nbytes)
        elif hasattr(v, "memory_usage") and hasattr(v, "to_numpy"):
            total += int(np.sum(v.memory_usage(deep=False)))
    return total


def _pickle(loss: Callable, params: list) -> bytes:
    """``(loss, params)`` with the loss's own module pickled by value (Note [What a worker
    holds]): its globals then travel with it and stay the objects in ``params``."""
    fn = getattr(loss, "fn", loss)                     # a CompiledFunction's function
    fn = getattr(fn, "__func__", fn)                   # a bound method's function
    name = getattr(fn, "__module__", None)
    module = sys.modules.get(name) if name else None
    by_value = (module is not None and name != "__main__"
                and not name.startswith(("symgrad", "numeric", "verify", "dask", "numpy")))
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps((loss, params))
    except (TypeError, RuntimeError) as exc:
        raise TypeError(f"the loss and its parameters cannot be sent to the workers: {exc}") \
            from None
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _params(params: Any) -> list:
    from symgrad.tensor import Tensor

    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    params = list(params)
    if not params:
        raise ValueError("DataParallel needs at least one parameter")
    for k, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameter {k} is a {type(p).__name__}, not a Tensor")
        if not (p.is_leaf and p.requires_grad):
            raise ValueError(f"parameter {k} must be a leaf tensor that requires grad "
                             "(sg.tensor(..., requires_grad=True) or an nn.Parameter)")
    return params


class DataParallel:
    """A loss over data chunks on Dask workers, and the parameters it reads.

    ``loss(*data)`` takes one chunk of each data argument (Tensors) and returns a 0-d
    Tensor: its ``reduction`` over the chunk's rows, ``"mean"`` (chunks are weighted by
    their rows, so the result is the mean over all rows) or ``"sum"``.  It reads its
    ``params`` (Tensors, or an ``nn.Module``'s parameters) from a closure, a module or
    a Module; it may be an ``sg.compile``d function, and is compiled on the workers if
    not.  ``client`` is what :func:`symgrad.distributed.client` takes (None: the active
    Dask client, else a LocalCluster started for you).

    Data arguments are dask arrays, dask DataFrames/Series, or numpy arrays and Tensors
    (sent to the workers once and kept there); ``chunk_rows`` re-cuts them.
    """

    def __init__(self, loss: Callable, params: Any, *, client: Any = None,
                 reduction: str = "mean", chunk_rows: Optional[int] = None) -> None:
        if not callable(loss):
            raise TypeError(f"loss must be a function of the data, got {type(loss).__name__}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.loss, self.params, self.reduction = loss, _params(params), reduction
        self.chunk_rows = chunk_rows
        self._scheduler = client
        self._client: Any = None
        self._program: Any = None            # the scattered _Program (a Future)
        self._blocks: dict = {}              # ids of data -> (data, on workers, Blocks)

    # -- plumbing ----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``distributed.Client`` this runs on (started on first use)."""
        if self._client is None or self._client.status != "running":
            self._client = cluster.client(self._scheduler)
            self._program = None
        return self._client

    def blocks(self, *data: Any) -> Blocks:
        """``data`` cut into aligned chunks (cached per data objects; data held on this
        side is sent to the workers here, once: Note [Data that is here])."""
        if len(data) == 1 and isinstance(data[0], Blocks):
            return data[0]
        key = tuple(id(a) for a in data)
        hit = self._blocks.get(key)
        if hit is not None:
            return hit[2]
        data_here = tuple(self._on_workers(a) for a in data)
        b = blocks(data_here, self.chunk_rows)
        # the latest data only; holding data keeps the ids valid, and data_here the
        # persisted copies of in-memory arrays alive on the workers
        self._blocks = {key: (data, data_here, b)}
        return b

    def _on_workers(self, a: Any) -> Any:
        """``a`` as a collection whose data lives on the workers (Note [Data that is here]).

        Note [Data that is here]
            In-memory arrays, and dask collections whose graph holds more than
            :data:`HELD_BYTES` of materialized data (``da.from_array(x)``, or a
            ``persist()`` run on Dask's local scheduler), would travel with every
            step's graph; they are persisted on the cluster once instead.  Lazy data
            (read from files, generated) stays lazy: it may be larger than memory.
        """
        if isinstance(a, np.ndarray) or hasattr(a, "node"):
            import dask.array as da
            from symgrad.distributed.chunks import DEFAULT_CHUNK_ROWS

            v = np.asarray(getattr(a, "value", a))
            if v.ndim == 0:
                return a                     # chunks.blocks says what is wrong
            a = da.from_array(v, chunks=(self.chunk_rows or DEFAULT_CHUNK_ROWS,) + v.shape[1:])
            return self.client.persist(a)
        graph = getattr(a, "__dask_graph__", None)
        if graph is not None and _held_bytes(graph()) > HELD_BYTES:
            return self.client.persist(a)
        return a

    def _program_future(self) -> Any:
        client = self.client
        if self._program is None:
            prog = _Program(_pickle(self.loss, self.params))
            [self._program] = client.scatter([prog], broadcast=True, hash=False)
        return self._program

    def _run(self, b: Blocks, which: Sequence[int]) -> tuple:
        """``(rows, loss, grads)`` summed over chunks ``which`` (in that order).

        Dask reruns the tasks of a worker that died; what it cannot rerun is scattered
        data (the loss, the parameter values) once every worker holding it has died.
        Then the whole sum is sent again (Note [Fixed-order tree sum]: same result)."""
        from distributed.client import FutureCancelledError

        values = tuple(np.array(p.value, copy=True) for p in self.params)
        for attempt in range(RETRIES + 1):
            client = self.client
            program = self._program_future()
            [sent] = client.scatter([values], broadcast=True, hash=False)  # once per step
            task = dask.delayed(_chunk_task, pure=False)
            leaves = [task(program, sent, b.chunks[i], b.trailing, self.reduction,
                           *b.parts[i]) for i in which]
            try:
                result = client.compute(_tree(leaves)).result()
            except FutureCancelledError:
                if attempt == RETRIES:
                    raise
                self._program = None         # lost with its workers: scatter it again
                continue
            if isinstance(result, _Failed):
                raise result.error
            return result
        raise AssertionError("unreachable")

    def _finish(self, rows: int, loss: float, grads: tuple) -> tuple:
        if self.reduction == "mean":
            loss, grads = loss / rows, tuple(g / rows for g in grads)
        return loss, [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, self.params)]

    # -- gradients ---------------------------------------------------------------------
    def gradient(self, *data: Any) -> tuple:
        """``(loss, grads)``: the full-batch loss (a float) and one numpy gradient per
        parameter, computed chunk by chunk on the workers.  Nothing is changed."""
        b = self.blocks(*data)
        return self._finish(*self._run(b, range(len(b))))

    def backward(self, *data: Any) -> Any:
        """The full-batch gradient added into every parameter's ``.grad`` (as
        ``loss.backward()`` does); returns the loss as a 0-d Tensor.  A failing chunk
        raises before any ``.grad`` changes."""
        import symgrad as sg

        loss, grads = self.gradient(*data)
        self._accumulate(grads)
        return sg.tensor(loss)

    def _accumulate(self, grads: list) -> None:
        import symgrad as sg

        for p, g in zip(self.params, grads):
            p.grad = sg.tensor(g if p.grad is None else p.grad.value + g, dtype=p.dtype)

    # -- training ----------------------------------------------------------------------
    def step(self, optimizer: Any, *data: Any) -> float:
        """One full-batch step of ``optimizer`` (any ``sg.optim`` optimizer, LBFGS too);
        returns the loss before the step.  A failing chunk or a non-finite loss raises
        before any parameter changes."""
        b = self.blocks(*data)
        return self._step(optimizer, lambda: self.gradient(b), "the full-batch loss")

    def _step(self, optimizer: Any, gradient: Callable[[], tuple], what: str) -> float:
        """``optimizer.step`` on ``gradient()``'s ``(loss, grads)``.  The first gradient
        is taken (and checked) before ``zero_grad``, so a bad chunk or a non-finite loss
        leaves ``.grad``, the parameters and the optimizer state as they were; LBFGS's
        later evaluations call ``gradient()`` again."""
        import symgrad as sg

        first = [gradient()]
        _finite(first[0][0], what)

        def closure() -> Any:
            loss, grads = first.pop() if first else gradient()
            _finite(loss, what)
            optimizer.zero_grad()
            self._accumulate(grads)
            return sg.tensor(loss)

        return float(optimizer.step(closure).value)

    def fit(self, *data: Any, optimizer: Any, epochs: int = 1, batch: str = "full",
            shuffle: bool = False, seed: int = 0,
            callback: Optional[Callable[[int, float], None]] = None) -> list:
        """Train for ``epochs``; returns each epoch's loss.

        ``batch="full"``: one full-batch step per epoch (the loss before it).
        ``batch="chunk"``: mini-batch SGD, one step per chunk, chunks in order or
        ``shuffle``d (by ``seed`` and the epoch); an epoch's loss is the row-weighted
        mean (or the sum) of its chunks' losses, each taken before its step.
        ``callback(epoch, loss)`` runs after every epoch (e.g. ``symgrad.train.Progress``).
        """
        if batch not in BATCHES:
            raise ValueError(f"batch must be 'full' or 'chunk', got {batch!r}")
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        b = self.blocks(*data)
        losses = []
        for epoch in range(1, epochs + 1):
            if batch == "full":
                value = self.step(optimizer, b)
            else:
                order = np.arange(len(b))
                if shuffle:
                    np.random.default_rng([seed, epoch]).shuffle(order)
                total, rows = 0.0, 0
                for i in order:
                    value = self._chunk_step(optimizer, b, int(i))
                    n = b.chunks[int(i)].rows
                    total, rows = total + value * (n or 1), rows + (n or 1)
                value = total / rows if self.reduction == "mean" else total
            losses.append(value)
            if callback is not None:
                callback(epoch, value)
        return losses

    def _chunk_step(self, optimizer: Any, b: Blocks, i: int) -> float:
        return self._step(optimizer, lambda: self._finish(*self._run(b, [i])),
                          f"the loss on {b.chunks[i]}")


def _finite(loss: float, what: str) -> None:
    if not math.isfinite(loss):
        raise TrainingDiverged(f"training diverged: {what} is {loss}; the parameters are left "
                               "as they were before this step: lower the learning rate or "
                               "scale the data")


def fit(loss: Callable, params: Any, *data: Any, optimizer: Any, epochs: int = 1,
        batch: str = "full", client: Any = None, reduction: str = "mean",
        chunk_rows: Optional[int] = None, shuffle: bool = False, seed: int = 0,
        callback: Optional[Callable[[int, float], None]] = None) -> list:
    """``DataParallel(loss, params, ...).fit(*data, ...)`` in one call; the epoch losses."""
    dp = DataParallel(loss, params, client=client, reduction=reduction, chunk_rows=chunk_rows)
    return dp.fit(*data, optimizer=optimizer, epochs=epochs, batch=batch, shuffle=shuffle,
                  seed=seed, callback=callback)
