"""Issue 13: sg.save / sg.load (.npz, no pickle) and resuming a run exactly."""
import zipfile

import numpy as np
import pytest

import symgrad as sg

X = np.linspace(-1, 1, 12).reshape(6, 2)
Y = X @ np.array([[1.5], [-2.0]]) + 0.3


def _model():
    return sg.nn.Linear(2, 1)


def _fresh(opt_name):
    m = _model()
    m.load_state_dict({"weight": np.array([[0.1, -0.2]]), "bias": np.array([0.05])})
    if opt_name == "adam":
        opt = sg.optim.Adam(m.parameters(), lr=0.05, amsgrad=True)
        sched = sg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15)
    else:
        opt = sg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        sched = sg.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    return m, opt, sched


def _train(m, opt, sched, steps):
    x, y = sg.tensor(X), sg.tensor(Y)
    for _ in range(steps):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("opt_name", ["adam", "sgd"])
def test_10_save_load_10_equals_20_bit_for_bit(opt_name, tmp_path):
    m, opt, sched = _fresh(opt_name)
    _train(m, opt, sched, 20)
    m1, opt1, sched1 = _fresh(opt_name)
    _train(m1, opt1, sched1, 10)
    path = tmp_path / "ckpt.npz"
    sg.save({"model": m1.state_dict(), "optimizer": opt1.state_dict(),
             "scheduler": sched1.state_dict(), "epoch": 10}, path)
    m2, opt2, sched2 = _fresh(opt_name)      # a new process would build these the same way
    ck = sg.load(path)
    m2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    sched2.load_state_dict(ck["scheduler"])
    assert ck["epoch"] == 10
    _train(m2, opt2, sched2, 10)
    for (n, a), (_, b) in zip(m.named_parameters(), m2.named_parameters()):
        assert a.value.tobytes() == b.value.tobytes(), n
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_round_trip_types(tmp_path):
    t = sg.tensor([[1.0, 2.0]], dtype=sg.float32, requires_grad=True)
    obj = {"t": t, "a": np.arange(6, dtype=np.int16).reshape(2, 3), "n": None,
           "f": 0.1, "nan": float("nan"), "inf": -float("inf"), "i": 7, "b": True, "s": "x",
           3: [1, (2.5, "y")], "np": np.float32(0.5), "empty": np.zeros((0, 3)),
           "nested": {"state": {0: {"step": 4, "exp_avg": np.array([1e-300, -0.0])}}}}
    sg.save(obj, tmp_path / "o.npz")
    back = sg.load(tmp_path / "o.npz")
    assert isinstance(back["t"], sg.Tensor) and back["t"].requires_grad
    assert back["t"].value.dtype == np.float32 and back["t"].tolist() == [[1.0, 2.0]]
    assert back["a"].dtype == np.int16 and back["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["n"] is None and back["f"] == 0.1 and np.isnan(back["nan"])
    assert back["inf"] == -np.inf and back["i"] == 7 and type(back["i"]) is int
    assert back["b"] is True and back["s"] == "x" and back[3] == [1, (2.5, "y")]
    assert back["np"] == np.float32(0.5) and back["np"].dtype == np.float32
    assert back["empty"].shape == (0, 3)
    ea = back["nested"]["state"][0]["exp_avg"]
    assert ea.tobytes() == np.array([1e-300, -0.0]).tobytes()
    assert sg.load(_save(sg.tensor(3.0), tmp_path)).item() == 3.0


def _save(obj, tmp_path, name="x.npz"):
    sg.save(obj, tmp_path / name)
    return tmp_path / name


def test_no_pickle_and_plain_npz(tmp_path):
    path = _save({"w": sg.tensor([1.0])}, tmp_path)
    with np.load(path, allow_pickle=False) as z:      # numpy reads it without pickle
        assert set(z.files) == {"__symgrad__", "__digest__", "a0"}
        assert z["a0"].tolist() == [1.0]


@pytest.mark.parametrize("obj,where", [
    ({"f": print}, r"obj\['f'\] is a builtin_function_or_method"),
    ({"a": [np.array(["x"])]}, r"obj\['a'\]\[0\] has dtype <U1"),
    ({(1, 2): 3}, "keys must be str or int"),
    ({"o": np.array([object()])}, "dtype object"),
])
def test_unsavable_refused_and_old_file_kept(obj, where, tmp_path):
    path = _save({"w": 1}, tmp_path)
    with pytest.raises(TypeError, match=where):
        sg.save(obj, path)
    assert sg.load(path) == {"w": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]   # no temp file left


def _corrupt_array(path):
    """Rewrite the zip with a changed array byte but valid CRCs (a deliberate edit)."""
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    data = bytearray(entries["a0.npy"])
    data[-1] ^= 0x40
    entries["a0.npy"] = bytes(data)
    with zipfile.ZipFile(path, "w") as z:
        for n, d in entries.items():
            z.writestr(n, d)


def _edit_header(path):
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    entries["__symgrad__.npy"] = entries["__symgrad__.npy"].replace(b'"step", 5', b'"step", 6')
    with zipfile.ZipFile(path, "w") as z:
        for n, d in entries.items():
            z.writestr(n, d)


@pytest.mark.parametrize("damage,msg", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated"),
    (lambda p: p.write_bytes(b""), "truncated"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 50), "truncated"),
    (_corrupt_array, "does not match its checksum"),
    (_edit_header, "header does not match its checksum"),
    (lambda p: np.savez(p, a=np.zeros(2)), "not one written by sg.save"),
], ids=["half", "empty", "garbage", "array-edit", "header-edit", "plain-npz"])
def test_damaged_file_clear_error_and_nothing_changes(damage, msg, tmp_path):
    m, opt, sched = _fresh("adam")
    _train(m, opt, sched, 5)
    path = tmp_path / "ck.npz"
    sg.save({"model": m.state_dict(), "optimizer": opt.state_dict()}, path)
    assert b'"step", 5' in zipfile.ZipFile(path).read("__symgrad__.npy")
    damage(path)
    m2, opt2, _ = _fresh("adam")
    before = [p.value.copy() for p in m2.parameters()]
    with pytest.raises(ValueError, match=msg) as e:
        ck = sg.load(path)
        m2.load_state_dict(ck["model"]); opt2.load_state_dict(ck["optimizer"])
    assert str(path) in str(e.value)
    assert [p.value.tobytes() for p in m2.parameters()] == [b.tobytes() for b in before]
    assert opt2.state == {}


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        sg.load(tmp_path / "nope.npz")


def test_demo_section_resumes_bit_for_bit(capsys):
    from symgrad.demo import _resume_demo
    _resume_demo(sg)
    out = capsys.readouterr().out
    assert "Adam step counter 50" in out and "bit for bit: True" in out
    assert "a truncated checkpoint is refused: sg.load:" in out


def test_lbfgs_state_saves_and_loads(tmp_path):
    w = sg.tensor([2.0, -1.0], requires_grad=True)
    opt = sg.optim.LBFGS([w], max_iter=3, history_size=2)

    def closure():
        opt.zero_grad()
        loss = ((w - 1) ** 4).sum() + (w ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    sg.save(opt.state_dict(), tmp_path / "l.npz")
    w2 = sg.tensor(w.value.copy(), requires_grad=True)
    opt2 = sg.optim.LBFGS([w2], max_iter=3, history_size=2)
    opt2.load_state_dict(sg.load(tmp_path / "l.npz"))

    def closure2():
        opt2.zero_grad()
        loss = ((w2 - 1) ** 4).sum() + (w2 ** 2).sum()
        loss.backward()
        return loss
    for _ in range(3):
        opt.step(closure); opt2.step(closure2)
    assert w.value.tobytes() == w2.value.tobytes()
