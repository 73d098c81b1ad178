"""The referee for gradients computed by another framework (PyTorch, JAX).

Shared by :mod:`verify.torch` and :mod:`verify.jax`; imports neither framework.

Note [Checking a foreign gradient]
    A framework adapter supplies ``run(values) -> (node, leaves, grads)``: it
    runs the user's function at one point (a list of float64 arrays, one per
    input), returns the symgrad IR of what it computed (traced, or the exact
    form the user gave) and the framework's own gradient of ``sum(w * f)``
    for the cotangent ``w`` that :func:`cotangent` gives for the output
    shape.  The graph is rebuilt at every point (a trace can depend on the
    point: ``torch.where(x > 0, ...)`` makes its condition a constant), and a
    :class:`verify.check.Prepared` is reused while the graph's structure and
    constants stay the same.  Points come in four passes: the example point,
    points drawn from every op's domain (away from kinks, as ``verify.check``
    draws them), extremes (every element of every input set to one of
    ``EXTREMES``, inside its domain) and kinks (zeros and ties, without finite
    differences).  At extremes a saturated output (``sigmoid(40) == 1.0``
    exactly) makes a correct gradient lose every relative digit, so there the
    tolerance gets an absolute floor ``SAFETY * u * sum|w * f|``: a rounding
    of the output's size, far below any gradient that is really wrong (a
    softplus backward returning 0 for ``x < -20`` errs by ``sigmoid(-30) ~
    9e-14`` where the floor is ``~ 3e-29``).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import mpmath
import numpy as np

from numeric.graph import toposort
from numeric.node import as_node
from numeric.ops import KINKED
from verify.check import KINK_MARGIN, Prepared, _admissible
from verify.oracles import ExactEvaluator, OutOfDomain, replay
from verify.report import InputReport, Report, WorstPoint
from verify.tolerance import MAX_RHO, SAFETY, tolerance, ulps

__all__ = ["EXTREMES", "cotangent", "check_foreign", "graph_key"]

#: values every element of an input takes in the extremes pass (those outside an input's
#: domain are skipped)
EXTREMES = (-700.0, -60.0, -30.0, -8.0, -1e-8, 1e-8, 8.0, 30.0, 60.0, 700.0)
#: kink points: every element 0 (relu, abs, clamp at 0), then every element equal (ties)
KINK_VALUES = (0.0, 0.5)


def cotangent(shape: tuple, seed: int = 0) -> np.ndarray:
    """The dyadic cotangent ``w`` a check uses for an output of ``shape`` (ones for a scalar).

    >>> cotangent(())
    array(1.)
    >>> cotangent((3,)).shape
    (3,)
    """
    if int(np.prod(shape, dtype=np.int64)) == 1:
        return np.ones(shape)
    rng = np.random.default_rng(seed)
    return rng.integers(1, 9, size=shape) / 4.0 * rng.choice([-1.0, 1.0], shape)


def graph_key(node: Any) -> tuple:
    """A hashable key of a graph's structure, attributes and constants."""
    order = toposort([as_node(node)])
    pos = {id(n): k for k, n in enumerate(order)}
    key = []
    for n in order:
        if n.op is None:
            data = None if n.data is None else (np.asarray(n.data).dtype.str,
                                                np.asarray(n.data).tobytes())
            key.append((None, n.role, getattr(n, "name", None), tuple(n.shape), data))
        else:
            attrs = tuple(sorted((k, repr(v)) for k, v in dict(n.attrs).items()))
            key.append((repr(n.op), tuple(pos[id(i)] for i in n.inputs), attrs))
    return tuple(key)


def _prepare(node: Any, leaves: list, w: np.ndarray) -> Prepared:
    from verify import graph as vgraph
    from numeric.ops import Op

    node = as_node(node)
    target = node if w.ndim == 0 or node.shape == () else as_node(vgraph.apply(
        Op.SUM, vgraph.apply(Op.MUL, node, vgraph.constant(w)), axis=None, keepdims=False))
    return Prepared(target, leaves, np.random.default_rng(0))


def _kinked(node: Any) -> bool:
    return any(n.op in KINKED for n in toposort([as_node(node)]) if n.op is not None)


def _points(prep: Prepared, example: list, n_points: int, rng, extremes: bool,
            kinks: bool) -> list[tuple[str, list]]:
    pts = [("example", [np.asarray(v, np.float64) for v in example])]
    for _ in range(n_points):
        pts.append(("sampled", [d.sample(rng, tuple(leaf.shape)) for d, leaf
                                in zip(prep.domains, prep.leaves)]))
    if extremes:
        for v in EXTREMES:
            vals = []
            for d, leaf in zip(prep.domains, prep.leaves):
                arr = np.full(tuple(leaf.shape), v)
                vals.append(arr if bool(np.all(d.contains(arr))) else
                            d.sample(rng, tuple(leaf.shape)))
            pts.append(("extreme", vals))
    if kinks:
        for v in KINK_VALUES:
            vals = [np.full(tuple(leaf.shape), v) for leaf in prep.leaves]
            pts.append(("kink", vals))
    return pts


def check_foreign(run: Callable[[list], tuple], example: Sequence, names: Sequence[str], *,
                  n_points: int = 10, seed: int = 0, extremes: bool = True, kinks: bool = True,
                  points: Sequence | None = None, label: str = "verify") -> Report:
    """Compare a framework's gradients with the exact ones (Note [Checking a foreign gradient]).

    ``run(values)`` returns ``(node, leaves, grads, output)``: the symgrad IR
    node of the function at ``values``, its input leaves (one per value), the
    framework's gradients of ``sum(w * f)`` (``w = cotangent(f.shape)``) and
    the framework's output value; or raises :class:`UnsupportedOp`.
    """
    rng = np.random.default_rng(seed)
    evaluator = ExactEvaluator()
    example = [np.asarray(v, np.float64) for v in example]
    report = Report(inputs=[InputReport(n, tuple(v.shape)) for n, v in zip(names, example)])
    report.expression = label
    cache: dict = {}
    first = run(example)
    node, leaves = first[0], first[1]
    prep = _prepare(node, leaves, cotangent(tuple(as_node(node).shape), seed))
    cache[graph_key(node)] = prep
    if points is not None:
        todo = [("given", [np.asarray(v, np.float64) for v in
                           (p if isinstance(p, (list, tuple)) else [p])]) for p in points]
    else:
        todo = _points(prep, example, n_points, rng, extremes, kinks and _kinked(node))
    worst_ratio = -1.0
    passes: dict = {}
    for kind, values in todo:
        report.points_tried += 1
        node, leaves, grads, out = first if kind == "example" and values is todo[0][1] \
            and points is None else run(values)
        key = graph_key(node)
        prep = cache.get(key)
        if prep is None:
            prep = cache[key] = _prepare(node, leaves, cotangent(tuple(as_node(node).shape),
                                                                  seed))
        bind = {id(leaf): v for leaf, v in zip(prep.leaves, values)}
        with np.errstate(all="ignore"):
            try:
                sg_out, new, rho, n_ops = replay(prep.target, bind, prep.leaves)
            except Exception:  # the graph cannot run there (a domain error in a kernel)
                report.skipped_domain += 1
                continue
            ok = _admissible(prep.order, new, KINK_MARGIN if kind == "sampled" else 0.0)
        out = np.asarray(out, np.float64)
        if not ok or not np.all(np.isfinite(out)):
            report.skipped_domain += 1
            continue
        if rho > MAX_RHO and kind != "kink":
            report.skipped_ill += 1
            continue
        try:
            exact, bounds = prep.exact(values, evaluator)
        except (OutOfDomain, ZeroDivisionError, ValueError, OverflowError):
            report.skipped_domain += 1
            continue
        ex_fs = [np.array([float(e) for e in ex.ravel()]).reshape(ex.shape) for ex in exact]
        if not all(np.all(np.isfinite(e)) for e in ex_fs):
            report.skipped_domain += 1   # the exact gradient overflows float64 there
            continue
        report.points_used += 1
        passes[kind] = passes.get(kind, 0) + 1
        w = cotangent(out.shape, seed)
        floor = SAFETY * 2.0 ** -53 * float(np.sum(np.abs(w * out))) if kind == "extreme" else 0.0
        point = {n: np.asarray(v) for n, v in zip(names, values)}
        for rep, ex, ex_f, a, g in zip(report.inputs, exact, ex_fs, bounds, grads):
            g = np.asarray(g, np.float64).reshape(ex.shape)
            err = np.array([float(abs(mpmath.mpf(float(n)) - e)) for n, e
                            in zip(g.ravel(), ex.ravel())]).reshape(ex.shape)
            err = np.where(np.isfinite(g), err, np.inf)
            tol = tolerance(a, ex_f, n_ops, min(rho, MAX_RHO), np.float64) + floor
            scale = max(float(np.max(np.abs(ex_f), initial=0.0)), 1e-300)
            rel = err / np.maximum(np.abs(ex_f), scale * 2.0 ** -52)
            rep.max_abs_err = max(rep.max_abs_err, float(np.max(err, initial=0.0)))
            rep.max_rel_err = max(rep.max_rel_err, float(np.max(rel, initial=0.0)))
            rep.max_ulps = max(rep.max_ulps, float(np.max(ulps(err, ex_f), initial=0.0)))
            ratio = err / tol
            rep.max_err_over_tol = max(rep.max_err_over_tol, float(np.max(ratio, initial=0.0)))
            bad = ratio > 1.0
            if np.any(bad):
                rep.mismatches += int(np.sum(bad))
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                at = {n: np.asarray(v).ravel()[:4].tolist() for n, v in point.items()}
                report.failures.append(
                    f"d/d{rep.name}{list(idx)} ({kind} point {at}): {label} gives "
                    f"{float(g[idx])!r}, exact {float(ex_f[idx])!r} (|err| "
                    f"{float(err[idx]):.3g} > tol {float(tol[idx]):.3g})")
            if ratio.size and float(np.max(ratio)) > worst_ratio:
                idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
                worst_ratio = float(ratio[idx])
                report.worst = WorstPoint(rep.name, idx, point, float(g[idx]), float(ex_f[idx]),
                                          float("nan"), float(tol[idx]))
    report.passes = passes  # type: ignore[attr-defined]
    if report.points_used == 0:
        report.failures.append(f"no admissible point in {report.points_tried} tries: "
                               "pass points= explicitly")
    return report


class UnsupportedOp(Exception):
    """Raised by a tracer for an op symgrad has no form for; the message names it."""


def unsupported_report(names: Sequence[str], shapes: Sequence[tuple], messages: Sequence[str],
                       label: str) -> Report:
    """A failed report naming the ops outside symgrad's vocabulary."""
    report = Report(inputs=[InputReport(n, tuple(s)) for n, s in zip(names, shapes)])
    report.expression = label
    report.failures.extend(messages)
    report.passes = {}  # type: ignore[attr-defined]
    return report
