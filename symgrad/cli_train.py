"""``symgrad train``: the seed's linear model in memory, or any file's rows on Dask.

Without ``--scheduler`` the model is ``y = w*x + b`` on a two-column CSV (or the seed's
three points), trained by :func:`symgrad.train.fit_linear`.  With ``--scheduler local``
or an address, ``y = X@w + b`` is trained on a CSV, Parquet or Zarr file read through
Dask chunk by chunk (:mod:`symgrad.distributed.files`), full-batch on the workers
(:class:`symgrad.distributed.DataParallel`).  Both print the exact optimum for one
feature, a progress bar, and write ``--plot``.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any

from symgrad.cli_formula import CommandFailed

__all__ = ["run", "MAX_EPOCHS"]

MAX_EPOCHS = 10_000_000


def run(args: argparse.Namespace) -> int:
    from symgrad import train

    if args.epochs > MAX_EPOCHS:
        raise ValueError(f"--epochs {args.epochs} is more than {MAX_EPOCHS:,}")
    if args.plot is not None:
        if not args.plot.lower().endswith(".png"):
            raise ValueError(f"--plot writes a PNG: give a file name ending in .png, "
                             f"got {args.plot!r}")
        if not train.have_matplotlib():
            raise CommandFailed(train.PLOT_HINT)
    if args.scheduler is not None:
        return _train_dask(args, train)
    only = [name for name in ("workers", "chunk_rows", "memory_limit", "target")
            if getattr(args, name) is not None]
    if only:
        raise ValueError(f"--{only[0].replace('_', '-')} applies to training through Dask: "
                         "add --scheduler local (or --scheduler tcp://host:port)")
    if args.data is None:
        x, y, source = train.SEED_X, train.SEED_Y, "the seed's 3 points"
    else:
        kind = _data_format(args.data)
        if kind != "csv":
            raise ValueError(f"{args.data} is a {kind.capitalize()} file, which is read "
                             "through Dask: add --scheduler local (needs pip install "
                             "symgrad[dask])")
        x, y = train.read_xy_csv(args.data)
        source = f"{len(x)} points from {args.data}"
    mode = "compiled" if args.compiled else "eager"
    print(f"training y = w*x + b on {source}: loss = {args.reduction} of squared errors, "
          f"{args.optimizer} lr={args.lr:g}, {args.epochs} epochs, {mode}")
    progress = train.Progress(args.epochs, file=sys.stdout)
    try:
        fit = train.fit_linear(x, y, epochs=args.epochs, lr=args.lr, optimizer=args.optimizer,
                               compiled=args.compiled, callback=progress,
                               reduction=args.reduction)
    except train.TrainingDiverged as exc:
        raise CommandFailed(str(exc)) from None
    print(f"trained:              w = {fit.w!r}, b = {fit.b!r}  "
          f"(loss {train.format_loss(fit.losses[-1])} at epoch {len(fit.losses)})")
    if fit.losses[-1] > fit.losses[0]:
        print(f"note: the loss grew from {train.format_loss(fit.losses[0])}; the learning rate "
              f"is too large for this data, try --lr {args.lr / 10:g} or --optimizer adam")
    _print_optimum(train.linear_optimum(x, y))
    if args.plot is not None:
        train.plot_losses(fit.losses, args.plot,
                          title=f"symgrad train linear ({args.optimizer}, lr={args.lr:g})",
                          ylabel=f"loss ({args.reduction} of squared errors)")
        print(f"loss curve written to {args.plot}")
    return 0


def _data_format(path: str) -> str:
    """"csv", "parquet" or "zarr" by the file name; anything else is read as CSV."""
    name = path.rstrip("/\\").lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "zarr" if name.endswith(".zarr") else "csv"


def _train_dask(args: argparse.Namespace, train: Any) -> int:
    """``symgrad train --data PATH --scheduler ...``: y = X@w + b over the file's chunks
    on Dask workers (full-batch gradient descent, sg.distributed.DataParallel)."""
    try:
        from symgrad import distributed as sgd
    except ModuleNotFoundError as exc:      # no dask: the one-line install hint
        raise CommandFailed(str(exc)) from None
    from symgrad.distributed import cluster, files

    if args.data is None:
        raise ValueError(f"--scheduler trains on a file: give --data PATH ({files.SUPPORTED})")
    if args.workers is not None and args.scheduler != "local":
        raise ValueError(f"--workers sets the size of the LocalCluster of --scheduler local; "
                         f"the cluster at {args.scheduler} has the workers it has")
    if args.memory_limit is not None and args.scheduler != "local":
        raise ValueError(f"--memory-limit applies to --scheduler local; the cluster at "
                         f"{args.scheduler} has its own")
    if args.scheduler != "local" and "://" not in args.scheduler:
        raise ValueError(f"--scheduler takes local or a Dask scheduler's address such as "
                         f"tcp://10.0.0.5:8786, got {args.scheduler!r}")
    files.format_of(args.data)              # an unknown format fails before a cluster starts
    with warnings.catch_warnings():         # the scheduler's HTTP port taken: it picks another
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        client = sgd.client(args.scheduler, workers=args.workers,
                            memory_limit=args.memory_limit or "auto")
    if args.scheduler == "local":           # a failing chunk reaches stderr once, as our line
        client.run(_quiet_worker_logs)
    try:
        table = files.read(args.data, args.chunk_rows, target=args.target, client=client)
        workers = len(client.nthreads())
        features = f"{table.features} feature" + ("s" if table.features != 1 else "")
        print(f"training y = X@w + b on {table.rows} rows x {features} from "
              f"{args.data} in {table.chunks} chunks on {cluster.describe(args.scheduler)} "
              f"with {workers} workers: loss = {args.reduction} of squared errors, "
              f"{args.optimizer} lr={args.lr:g}, {args.epochs} epochs, compiled on the workers")
        w, b, losses = _fit_table(args, table, client, sgd)
        _report_dask(args, train, table, client, w, b, losses)
    finally:
        if args.scheduler != "local":       # ours to close; the LocalCluster is cached
            sgd.close(client)
    return 0


def _fit_table(args: argparse.Namespace, table: Any, client: Any, sgd: Any) -> tuple:
    import symgrad as sg
    from symgrad import train

    d = table.features
    w = sg.ones(d, dtype=sg.float64, requires_grad=True)
    b = sg.zeros(1, dtype=sg.float64, requires_grad=True)
    reduce = sg.sum if args.reduction == "sum" else sg.mean

    def loss(rows):                          # one argument: each chunk is read once
        return reduce((rows[:, :d] @ w + b - rows[:, d]) ** 2)

    opt = sg.optim.SGD([w, b], lr=args.lr) if args.optimizer == "sgd" \
        else sg.optim.Adam([w, b], lr=args.lr)
    progress = train.Progress(args.epochs, file=sys.stdout)
    done = [0]

    def callback(epoch: int, value: float) -> None:
        done[0] = epoch
        progress(epoch, value)

    dp = sgd.DataParallel(loss, [w, b], client=client, reduction=args.reduction)
    try:
        losses = dp.fit(table.data, optimizer=opt, epochs=args.epochs, callback=callback)
    except train.TrainingDiverged:
        hint = " or --reduction mean (the mean, not the sum, of squared errors)" \
            if args.reduction == "sum" else ""
        raise CommandFailed(
            f"training diverged: the loss is not finite at epoch {done[0] + 1}; lower the "
            f"learning rate (e.g. --lr {args.lr / 10:g}){hint}, or use --optimizer adam") \
            from None
    return w.value.tolist(), float(b.value[0]), losses


def _report_dask(args: argparse.Namespace, train: Any, table: Any, client: Any,
                 w: list, b: float, losses: list) -> None:
    shown = repr(w[0]) if len(w) == 1 else "[" + ", ".join(repr(v) for v in w) + "]"
    print(f"trained:              w = {shown}, b = {b!r}  "
          f"(loss {train.format_loss(losses[-1])} at epoch {len(losses)})")
    if losses[-1] > losses[0]:
        hint = " or --reduction mean" if args.reduction == "sum" else ""
        print(f"note: the loss grew from {train.format_loss(losses[0])}; the learning rate "
              f"is too large for this data, try --lr {args.lr / 10:g}{hint} or --optimizer adam")
    if table.features == 1:
        import dask

        exact = table.rows <= train.EXACT_ROWS
        tasks = [dask.delayed(_chunk_sums, pure=True)(part, exact)
                 for part in table.data.to_delayed().ravel()]
        sums = client.gather(client.compute(tasks))
        values = {k: sum(s[k] for s in sums) for k in sums[0]}
        _print_optimum(train.linear_optimum_from_sums(values, exact))
    if args.plot is not None:
        train.plot_losses(losses, args.plot,
                          title=f"symgrad train on {os.path.basename(args.data)} "
                                f"({args.optimizer}, lr={args.lr:g})",
                          ylabel=f"loss ({args.reduction} of squared errors)")
        print(f"loss curve written to {args.plot}")


def _quiet_worker_logs() -> None:
    """On a LocalCluster's workers: no "Compute Failed" log for an error the client raises."""
    import logging

    logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)


def _chunk_sums(rows: Any, exact: bool) -> dict:
    """On a worker: one chunk's sums for the closed-form optimum (n, Sx, Sy, Sxx, Sxy)."""
    from symgrad import train

    return train.linear_data_sums(rows[:, 0], rows[:, 1], exact=exact)


def _print_optimum(opt: Any) -> None:
    grads = opt.gradient_text()
    if opt.solution is None:
        print("closed form (SymPy):  no unique optimum (all x are equal); "
              f"dL/dw = {grads['w']}, dL/db = {grads['b']}")
    else:
        w, b = opt.solution["w"], opt.solution["b"]
        print(f"closed form (SymPy):  w = {_exact_and_float(w)}, b = {_exact_and_float(b)}  "
              f"(solving dL/dw = {grads['w']} = 0, dL/db = {grads['b']} = 0)")


def _exact_and_float(v: Any) -> str:
    if v.is_Float:                      # float64 sums (a large file): no exact value
        return repr(float(v))
    text = str(v)
    return text if v.is_Integer else f"{text} ({float(v)!r})"
