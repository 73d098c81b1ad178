"""Issue 14: data-parallel gradients and training on a LocalCluster (sg.distributed)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import symgrad as sg

da = pytest.importorskip("dask.array")
sgd = pytest.importorskip("symgrad.distributed")

RNG = np.random.default_rng(7)
X_NP = RNG.normal(size=(2_003, 4))
W_TRUE = np.array([1.5, -2.0, 0.5, 3.0])
Y_NP = X_NP @ W_TRUE - 0.75 + 0.1 * RNG.normal(size=2_003)

# module-level parameters read by a module-level loss: the loss travels by value with them
W = sg.zeros(4, requires_grad=True)
B = sg.zeros((), requires_grad=True)


def mse(X, y):
    return ((X @ W + B - y) ** 2).mean()


def sse(X, y):
    return ((X @ W + B - y) ** 2).sum()


@pytest.fixture(autouse=True)
def _reset():
    W.value[...] = 0.0
    B.value[...] = 0.0
    W.grad = B.grad = None


def _in_memory(loss, X=X_NP, y=Y_NP):
    w, b = sg.tensor(W.value.copy(), requires_grad=True), sg.tensor(B.value.copy(),
                                                                       requires_grad=True)
    out = loss.__wrapped__(sg.tensor(X), sg.tensor(y), w, b) if hasattr(loss, "__wrapped__") \
        else _eager(loss, X, y, w, b)
    out.backward()
    return out.item(), [w.grad.value, b.grad.value]


def _eager(loss, X, y, w, b):
    r = sg.tensor(X) @ w + b - sg.tensor(y)
    return (r ** 2).mean() if loss is mse else (r ** 2).sum()


def _dask(chunks=300):
    return da.from_array(X_NP, chunks=(chunks, 4)), da.from_array(Y_NP, chunks=chunks)


@pytest.mark.parametrize("loss,reduction", [(mse, "mean"), (sse, "sum")])
def test_full_batch_gradient_equals_in_memory(dask_client, loss, reduction):
    W.value[...] = [0.1, 0.2, -0.3, 0.4]
    B.value[...] = 0.5
    dp = sgd.DataParallel(loss, [W, B], client=dask_client, reduction=reduction)
    value, grads = dp.gradient(*_dask())
    want_value, want = _in_memory(loss)
    assert abs(value - want_value) <= 1e-12 * abs(want_value)
    for g, e in zip(grads, want):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12 * np.abs(e).max())
    assert W.grad is None and B.grad is None          # gradient() changes nothing


def test_same_result_every_run_and_any_chunking_order(dask_client):
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    X, y = _dask(chunks=97)                           # 21 chunks: an odd tree
    first = dp.gradient(X, y)
    for _ in range(3):
        again = dp.gradient(X, y)
        assert again[0] == first[0]                   # bitwise: a fixed-order tree sum
        for g, h in zip(again[1], first[1]):
            assert np.array_equal(g, h)


def test_dataframe_and_numpy_inputs(dask_client):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    frame = pd.DataFrame(X_NP, columns=list("abcd")).assign(y=Y_NP)
    ddf = dd.from_pandas(frame, npartitions=5)
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    want_value, want = _in_memory(mse)
    for data in ((ddf[list("abcd")], ddf["y"]), (X_NP, Y_NP), (sg.tensor(X_NP), Y_NP)):
        value, grads = dp.gradient(*data)
        assert abs(value - want_value) <= 1e-12 * want_value
        np.testing.assert_allclose(grads[0], want[0], rtol=1e-12)


def test_backward_accumulates_into_grad_like_loss_backward(dask_client):
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    loss = dp.backward(*_dask())
    _, want = _in_memory(mse)
    assert isinstance(loss, sg.Tensor) and loss.ndim == 0
    np.testing.assert_allclose(W.grad.value, want[0], rtol=1e-12)
    dp.backward(*_dask())
    np.testing.assert_allclose(W.grad.value, 2 * want[0], rtol=1e-12)


def _train_in_memory(make_opt, epochs, chunks=None):
    w = sg.tensor(np.zeros(4), requires_grad=True)
    b = sg.tensor(0.0, requires_grad=True)
    opt = make_opt([w, b])
    pieces = [(X_NP, Y_NP)] if chunks is None else \
        [(X_NP[i:i + chunks], Y_NP[i:i + chunks]) for i in range(0, len(X_NP), chunks)]
    for _ in range(epochs):
        for X, y in pieces:
            def closure(X=X, y=y):
                opt.zero_grad()
                loss = ((sg.tensor(X) @ w + b - sg.tensor(y)) ** 2).mean()
                loss.backward()
                return loss
            opt.step(closure)
    return w.value, b.value


@pytest.mark.parametrize("make_opt,epochs", [
    (lambda ps: sg.optim.SGD(ps, lr=0.1), 5),
    (lambda ps: sg.optim.SGD(ps, lr=0.05, momentum=0.9), 5),
    (lambda ps: sg.optim.Adam(ps, lr=0.1), 5),
    (lambda ps: sg.optim.LBFGS(ps, lr=1, max_iter=5), 2),
], ids=["sgd", "momentum", "adam", "lbfgs"])
def test_full_batch_training_matches_in_memory(dask_client, make_opt, epochs):
    opt = make_opt([W, B])
    losses = sgd.fit(mse, [W, B], *_dask(), optimizer=opt, epochs=epochs, client=dask_client)
    w, b = _train_in_memory(make_opt, epochs)
    assert len(losses) == epochs and losses[-1] < losses[0]
    np.testing.assert_allclose(W.value, w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(B.value, b, rtol=1e-9, atol=1e-12)


def test_minibatch_sgd_over_chunks_matches_in_memory_loop(dask_client):
    opt = sg.optim.SGD([W, B], lr=0.05)
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    losses = dp.fit(*_dask(chunks=500), optimizer=opt, epochs=2, batch="chunk")
    w, b = _train_in_memory(lambda ps: sg.optim.SGD(ps, lr=0.05), 2, chunks=500)
    np.testing.assert_allclose(W.value, w, rtol=1e-10)
    np.testing.assert_allclose(B.value, b, rtol=1e-10)
    assert losses[1] < losses[0]


def test_shuffled_chunks_are_seeded(dask_client):
    runs = []
    for _ in range(2):
        W.value[...] = 0.0
        B.value[...] = 0.0
        opt = sg.optim.SGD([W, B], lr=0.05)
        sgd.fit(mse, [W, B], *_dask(chunks=500), optimizer=opt, epochs=1, batch="chunk",
                shuffle=True, seed=3, client=dask_client)
        runs.append(W.value.copy())
    assert np.array_equal(runs[0], runs[1])


def test_parameters_broadcast_once_per_step_not_per_chunk(dask_client, monkeypatch):
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    X, y = _dask(chunks=100)                          # 21 chunks
    opt = sg.optim.SGD([W, B], lr=0.1)
    dp.step(opt, X, y)                                # the loss itself is sent once, here
    sent = []
    real = dask_client.scatter
    monkeypatch.setattr(dask_client, "scatter",
                        lambda data, **kw: sent.append((data, kw)) or real(data, **kw))
    dp.step(opt, X, y)
    assert len(sent) == 1 and sent[0][1].get("broadcast") is True
    (values,) = sent[0][0]
    assert [v.shape for v in values] == [(4,), ()]


def test_module_parameters_and_compiled_loss(dask_client):
    model = sg.nn.Linear(4, 1)
    loss = sg.compile(lambda X, y: ((model(X)[:, 0] - y) ** 2).mean())
    dp = sgd.DataParallel(loss, model, client=dask_client)
    value, grads = dp.gradient(*_dask())
    out = ((model(sg.tensor(X_NP))[:, 0] - sg.tensor(Y_NP)) ** 2).mean()
    out.backward()
    assert abs(value - out.item()) <= 1e-12 * out.item()
    np.testing.assert_allclose(grads[0], model.weight.grad.value, rtol=1e-12)
    np.testing.assert_allclose(grads[1], model.bias.grad.value, rtol=1e-12)


def test_float32_parameters_and_data(dask_client):
    w = sg.zeros(4, dtype=sg.float32, requires_grad=True)
    X32, y32 = X_NP.astype(np.float32), Y_NP.astype(np.float32)
    dp = sgd.DataParallel(lambda X, y: ((X @ w - y) ** 2).mean(), [w], client=dask_client)
    value, (g,) = dp.gradient(da.from_array(X32, chunks=(500, 4)), da.from_array(y32, chunks=500))
    out = ((sg.tensor(X32) @ w - sg.tensor(y32)) ** 2).mean()
    out.backward()
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, w.grad.value, rtol=1e-5)
    assert abs(value - out.item()) <= 1e-5 * out.item()


# ------------------------------------------------------------------ bad data, bad calls
def _with_bad_chunk(bad):
    X = X_NP.copy()
    X[1_234, 2] = bad
    return da.from_array(X, chunks=(300, 4)), da.from_array(Y_NP, chunks=300)


@pytest.mark.parametrize("batch", ["full", "chunk"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_chunk_named_and_parameters_unchanged(dask_client, bad, batch):
    W.value[...] = [0.1, 0.2, 0.3, 0.4]
    opt = sg.optim.Adam([W, B], lr=0.1)
    before = W.value.copy(), B.value.copy()
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    with pytest.raises(sgd.ChunkError, match=r"chunk 4 of 7 \(rows 1200-1499\): argument 0 "
                                             r"has (nan|inf) at row 1234, column 2"):
        dp.fit(*_with_bad_chunk(bad), optimizer=opt, epochs=1, batch=batch)
    if batch == "full":
        assert np.array_equal(W.value, before[0]) and np.array_equal(B.value, before[1])
        assert W.grad is None and opt.state.get(W) in (None, {})
    else:                                             # chunks 0-3 stepped; chunk 4 did not
        w, b = _train_in_memory_prefix(4)
        np.testing.assert_allclose(W.value, w, rtol=1e-10)


def _train_in_memory_prefix(steps):
    w = sg.tensor([0.1, 0.2, 0.3, 0.4], requires_grad=True)
    b = sg.tensor(0.0, requires_grad=True)
    opt = sg.optim.Adam([w, b], lr=0.1)
    for i in range(steps):
        opt.zero_grad()
        X, y = X_NP[300 * i:300 * (i + 1)], Y_NP[300 * i:300 * (i + 1)]
        ((sg.tensor(X) @ w + b - sg.tensor(y)) ** 2).mean().backward()
        opt.step()
    return w.value, b.value


def test_wrong_column_count_named(dask_client):
    import dask

    good = da.from_array(X_NP[:600], chunks=(300, 4))
    liar = da.from_delayed(dask.delayed(np.ones)((300, 3)), shape=(300, 4), dtype=float)
    X = da.concatenate([good, liar])
    y = da.from_array(Y_NP[:900], chunks=300)
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    with pytest.raises(sgd.ChunkError, match=r"chunk 2 of 3 \(rows 600-899\): argument 0 has "
                                             r"3 column\(s\), expected 4"):
        dp.backward(X, y)
    assert W.grad is None


def test_text_in_a_dataframe_column_named(dask_client):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    frame = pd.DataFrame(X_NP[:400], columns=list("abcd")).assign(y=Y_NP[:400])
    frame["c"] = frame["c"].astype(object)
    frame.loc[350, "c"] = "n/a"
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(sgd.ChunkError, match=r"chunk 1 of 2: argument 0 has dtype object "
                                             r"\('n/a' at row 150 of the chunk, column 2\)"):
        sgd.DataParallel(mse, [W, B], client=dask_client).gradient(ddf[list("abcd")], ddf["y"])


def test_diverging_loss_raises_before_the_step(dask_client):
    opt = sg.optim.SGD([W, B], lr=1e200)
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    dp.step(opt, *_dask())
    before, grad = W.value.copy(), W.grad.value.copy()
    with pytest.raises(sg.errors.TrainingDiverged, match="left as they were"):
        with np.errstate(over="ignore", invalid="ignore"):
            dp.step(opt, *_dask())
    assert np.array_equal(W.value, before) and np.array_equal(W.grad.value, grad)


@pytest.mark.parametrize("opt_class", [sg.optim.Adam, sg.optim.LBFGS])
@pytest.mark.parametrize("batch", ["full", "chunk"])
def test_a_failing_step_leaves_grad_and_optimizer_state_as_they_were(dask_client, opt_class,
                                                                      batch):
    W.value[...], B.value[...] = [0.1, 0.2, 0.3, 0.4], 0.0
    opt = opt_class([W, B], lr=0.1)
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    dp.fit(*_dask(), optimizer=opt, epochs=1)         # state to keep: moments, history
    W.grad, B.grad = sg.tensor([1.0, 2.0, 3.0, 4.0]), sg.tensor(5.0)
    before = [np.array(x, copy=True) for x in (W.value, B.value)]
    state = copy.deepcopy(opt.state_dict())
    bad = X_NP.copy()
    bad[5, 2] = np.nan                                # the first chunk: no step is taken
    with pytest.raises(sgd.ChunkError, match=r"chunk 0 of 7 \(rows 0-299\)"):
        dp.fit(da.from_array(bad, chunks=(300, 4)), da.from_array(Y_NP, chunks=300),
               optimizer=opt, epochs=1, batch=batch)
    assert np.array_equal(W.value, before[0]) and np.array_equal(B.value, before[1])
    assert W.grad.tolist() == [1.0, 2.0, 3.0, 4.0] and B.grad.item() == 5.0
    _assert_same_state(opt.state_dict(), state)


def _assert_same_state(got, want):
    assert type(got) is type(want)
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            _assert_same_state(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same_state(g, w)
    else:
        assert np.array_equal(np.asarray(got), np.asarray(want))


def test_bad_arguments(dask_client):
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        sgd.DataParallel(mse, [W, B], reduction="max")
    with pytest.raises(ValueError, match="leaf tensor that requires grad"):
        sgd.DataParallel(mse, [W * 2])
    with pytest.raises(ValueError, match="batch must be 'full' or 'chunk'"):
        sgd.fit(mse, [W, B], X_NP, Y_NP, optimizer=sg.optim.SGD([W], lr=1), batch="mini",
                client=dask_client)
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    with pytest.raises(ValueError, match="argument 1 has 5 rows, argument 0 has 2003"):
        dp.gradient(da.from_array(X_NP, chunks=(500, 4)), da.ones(5, chunks=5))
    unused = sg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"parameter\(s\) \[2\] do not reach the loss"):
        sgd.DataParallel(mse, [W, B, unused], client=dask_client).gradient(*_dask())
    with pytest.raises(TypeError, match="0-d Tensor"):
        sgd.DataParallel(lambda X, y: X @ W + B - y, [W, B], client=dask_client) \
            .gradient(*_dask())
    with pytest.raises(ValueError, match="scheduler must be None, 'local', an address"):
        sgd.client("localhost")


def test_of_several_bad_chunks_the_first_is_named_every_time(dask_client):
    X = X_NP.copy()
    X[1_900, 0] = np.nan                             # chunk 6 (fast to reach) ...
    X[650, 1] = np.inf                               # ... and chunk 2: chunk 2 is reported
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    for _ in range(3):
        with pytest.raises(sgd.ChunkError, match=r"^chunk 2 of 7 \(rows 600-899\): argument 0 "
                                                 r"has inf at row 650, column 1"):
            dp.gradient(da.from_array(X, chunks=(300, 4)), da.from_array(Y_NP, chunks=300))


def test_a_file_read_lazily_trains_through_table_x_and_y(dask_client, tmp_path):
    path = tmp_path / "rows.csv"
    np.savetxt(path, np.column_stack([X_NP, Y_NP]), delimiter=",", header="a,b,c,d,y",
               comments="")
    table = sgd.read(str(path), chunk_rows=500, client=dask_client)
    assert (table.rows, table.features, table.columns) == (2_003, 4, list("abcdy"))
    assert table.chunks > 1 and type(table.X).__module__.startswith("dask")
    value, grads = sgd.DataParallel(mse, [W, B], client=dask_client).gradient(table.X, table.y)
    want_value, want = _in_memory(mse)
    assert abs(value - want_value) <= 1e-12 * want_value
    np.testing.assert_allclose(grads[0], want[0], rtol=1e-11)


def test_data_held_here_is_sent_to_the_workers_once(dask_client):
    from symgrad.distributed.parallel import HELD_BYTES, _held_bytes

    big = np.random.default_rng(3).normal(size=(40_000, 4))       # 1.3 MB in the graph
    X, y = da.from_array(big, chunks=(10_000, 4)), da.from_array(big.sum(1), chunks=10_000)
    assert _held_bytes(dict(X.__dask_graph__())) > HELD_BYTES
    dp = sgd.DataParallel(mse, [W, B], client=dask_client)
    parts = dp.blocks(X, y).parts
    assert all(_held_bytes(dict(chunk[0].__dask_graph__())) == 0 for chunk in parts)
    assert _held_bytes(dict(y.__dask_graph__())) < HELD_BYTES     # y (320 kB) travels as is
    lazy = da.random.default_rng(0).normal(size=(40_000, 4), chunks=(10_000, 4))
    assert dp._on_workers(lazy) is lazy                # lazy data stays lazy
    value, _ = dp.gradient(X, y)
    W.value[...] = 0.0
    want = ((big @ W.value + B.value - big.sum(1)) ** 2).mean()
    assert abs(value - want) <= 1e-12 * want
