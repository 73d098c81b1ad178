"""Issue 12: a battery of matrix-calculus gradients with known (Matrix Cookbook) answers.

Each case is checked three ways (``_check``):
(a) the matrix-form result, printed, is the known answer;
(b) at small concrete dims and a random point it equals ``sg.diff`` in elementwise
    form (concrete shapes, SymPy over element symbols);
(c) and it equals the numeric engine's ``backward()`` on eager tensors.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg

#: concrete sizes for the symbolic dims
DIMS = {"N": 3, "d": 2, "K": 4, "h": 2}


def _size(shape):
    return tuple(int(np.prod([DIMS[p] for p in s.split("*")])) if isinstance(s, str) else s
                 for s in shape)


def _value(name, shape, rng, kinds):
    shape = _size(shape)
    if name in kinds.get("spd", ()):      # well conditioned, det > 0
        r = rng.uniform(-0.5, 0.5, shape)
        return r @ r.T + shape[0] * np.eye(shape[0])
    if name in kinds.get("positive", ()):
        return rng.uniform(0.5, 2.0, shape)
    if name in kinds.get("mask", ()):
        return rng.random(shape) < 0.5
    if name in kinds.get("onehot", ()):
        v = np.zeros(shape)
        v[rng.integers(shape[0])] = 1.0
        return v
    return rng.uniform(-1.5, 1.5, shape)


def _matrix_value(g, leaves, values):
    """The matrix-form result at concrete dims and values, as a float array."""
    reps = {}
    for name, shape in leaves.items():
        sym = sg.to_sympy(sg.symbol(name, shape=shape), form="matrix")
        v = np.asarray(values[name], dtype=float)
        reps[sym] = sympy.Float(float(v)) if v.ndim == 0 else \
            sympy.ImmutableMatrix(v.reshape(v.shape[0], -1))
    e = g.xreplace(reps).subs({sympy.Symbol(k): v for k, v in DIMS.items()})
    e = e.doit()
    if hasattr(e, "as_explicit"):
        e = e.as_explicit()
    return np.array(sympy.N(e), dtype=float)


def _check(build, leaves: dict, wrt: str, known: str, *, seed=0, **kinds):
    """(a) printed matrix form == ``known``; (b) == elementwise sg.diff; (c) == backward."""
    sym = {n: sg.symbol(n, shape=s) for n, s in leaves.items()}
    g = sg.diff(build(**sym), sym[wrt], form="matrix")
    rng = np.random.default_rng(seed)
    values = {n: _value(n, s, rng, kinds) for n, s in leaves.items()}
    got = _matrix_value(g, leaves, values).reshape(_size(leaves[wrt]))
    # (b) elementwise closed form at concrete shapes
    conc = {n: sg.symbol(n, shape=_size(s)) for n, s in leaves.items()}
    ge = sg.diff(build(**conc), conc[wrt], simplify=False)
    at = {}
    for n, leaf in conc.items():
        elems = sg.to_sympy(leaf)
        elems = [elems] if not _size(leaves[n]) else list(sympy.flatten(elems))
        at.update(zip(elems, np.ravel(values[n]).astype(float).tolist()))
    elementwise = np.array(sympy.Array(ge).xreplace(at).tolist() if _size(leaves[wrt])
                           else ge.xreplace(at), dtype=float)
    np.testing.assert_allclose(got, elementwise.reshape(got.shape), rtol=1e-9, atol=1e-9)
    # (c) numeric backward on eager tensors
    eager = {n: sg.tensor(values[n], requires_grad=(n == wrt)) for n in leaves}
    build(**eager).backward()
    np.testing.assert_allclose(got, eager[wrt].grad.numpy(), rtol=1e-7, atol=1e-9)
    assert str(g) == known, f"matrix form {g} != {known}"


V, M, S = ("N",), ("N", "N"), ()
R = ("N", "d")

CASES = [
    # linear and bilinear
    ("a'x", lambda a, x: a @ x, {"a": V, "x": V}, "x", "a"),
    ("sum(Ax)", lambda A, x: (A @ x).sum(), {"A": R, "x": ("d",)}, "x", "A.T*ones(N, 1)"),
    ("y'Ax wrt A", lambda y, A, x: y @ A @ x, {"y": V, "A": R, "x": ("d",)}, "A", "y*x.T"),
    ("y'Ax wrt x", lambda y, A, x: y @ A @ x, {"y": V, "A": R, "x": ("d",)}, "x", "A.T*y"),
    ("x'x", lambda x: x @ x, {"x": V}, "x", "2*x"),
    ("x'Ax", lambda x, A: x @ A @ x, {"x": V, "A": M}, "x", "(A + A.T)*x"),
    ("x'A'Ax", lambda x, A: (A @ x) @ (A @ x), {"x": ("d",), "A": R}, "x", "2*A.T*A*x"),
    ("(Ax+b)'(Ax+b)", lambda A, x, b: ((A @ x + b) ** 2).sum(), {"A": R, "x": ("d",), "b": V},
     "x", "2*A.T*(A*x + b)"),
    # least squares, ridge, logistic
    ("least squares", lambda X, w, y: ((X @ w - y) ** 2).sum(), {"X": R, "w": ("d",), "y": V},
     "w", "2*X.T*(X*w - y)"),
    ("least squares wrt X", lambda X, w, y: ((X @ w - y) ** 2).sum(),
     {"X": R, "w": ("d",), "y": V}, "X", "2*(X*w - y)*w.T"),
    ("mean squared", lambda X, w, y: ((X @ w - y) ** 2).mean(), {"X": R, "w": ("d",), "y": V},
     "w", "(2/N)*X.T*(X*w - y)"),
    ("ridge", lambda X, w, y, lam: ((X @ w - y) ** 2).sum() + lam * (w @ w),
     {"X": R, "w": ("d",), "y": V, "lam": S}, "w", "2*(lam*w + X.T*(X*w - y))"),
    ("logistic", lambda X, w, y: (sg.softplus(X @ w) - y * (X @ w)).sum(),
     {"X": R, "w": ("d",), "y": V}, "w", "X.T*(sigmoid(X*w) - y)"),
    ("norm2(Ax-y)^2", lambda A, x, y: sg.linalg.vector_norm(A @ x - y) ** 2,
     {"A": R, "x": ("d",), "y": V}, "x", "2*A.T*(A*x - y)"),
    # traces
    ("tr(X)", lambda X: sg.trace(X), {"X": M}, "X", "I"),
    ("tr(AX)", lambda A, X: sg.trace(A @ X), {"A": M, "X": M}, "X", "A.T"),
    ("tr(AXB)", lambda A, X, B: sg.trace(A @ X @ B), {"A": M, "X": M, "B": M}, "X", "A.T*B.T"),
    ("tr(X'AX)", lambda X, A: sg.trace(X.T @ A @ X), {"X": M, "A": M}, "X", "(A + A.T)*X"),
    ("tr(AX'BXC)", lambda A, X, B, C: sg.trace(A @ X.T @ B @ X @ C),
     {"A": M, "X": M, "B": M, "C": M}, "X", "B*X*C*A + B.T*X*A.T*C.T"),
    ("tr(XX')", lambda X: sg.trace(X @ X.T), {"X": R}, "X", "2*X"),
    # determinants and inverses
    ("det(X)", lambda X: sg.det(X), {"X": M}, "X", "Determinant(X)*X.T**(-1)"),
    ("log det(X)", lambda X: sg.logdet(X), {"X": M}, "X", "X.T**(-1)"),
    ("logabsdet(X)", lambda X: sg.slogdet(X).logabsdet, {"X": M}, "X", "X.T**(-1)"),
    ("log det(inv(X))", lambda X: sg.logdet(sg.inverse(X)), {"X": M}, "X", "-X.T**(-1)"),
    ("det(AX)", lambda A, X: sg.det(A @ X), {"A": M, "X": M}, "X",
     "(Determinant(A)*Determinant(X))*X.T**(-1)"),
    ("tr(inv(X)A)", lambda X, A: sg.trace(sg.inverse(X) @ A), {"X": M, "A": M}, "X",
     "-X.T**(-1)*A.T*X.T**(-1)"),
    ("a'inv(X)b", lambda a, X, b: a @ sg.linalg.inv(X) @ b, {"a": V, "X": M, "b": V}, "X",
     "-X.T**(-1)*a*b.T*X.T**(-1)"),
    ("sum(solve(A, x))", lambda A, x: sg.linalg.solve(A, x).sum(), {"A": M, "x": V}, "x",
     "A.T**(-1)*ones(N, 1)"),
    ("y'solve(A, x) wrt A", lambda y, A, x: y @ sg.linalg.solve(A, x), {"y": V, "A": M, "x": V},
     "A", "-A.T**(-1)*y*x.T*A.T**(-1)"),
    # norms
    ("norm2(Ax-y)", lambda A, x, y: sg.linalg.vector_norm(A @ x - y),
     {"A": R, "x": ("d",), "y": V}, "x", "1/norm2(A*x - y)*A.T*(A*x - y)"),
    ("norm1(x)", lambda x: sg.linalg.vector_norm(x, 1), {"x": V}, "x", "sign(x)"),
    ("fro(X)", lambda X: sg.linalg.matrix_norm(X), {"X": R}, "X", "1/norm2(X)*X"),
    ("sg.norm(Ax)", lambda A, x: sg.norm(A @ x), {"A": R, "x": ("d",)}, "x",
     "1/norm2(A*x)*A.T*A*x"),
    # softmax family
    ("softmax cross-entropy", lambda z, t: -(t * sg.log_softmax(z, 0)).sum(),
     {"z": ("K",), "t": ("K",)}, "z", "sum(t)*softmax(z) - t"),
    ("logsumexp", lambda z: sg.logsumexp(z, 0), {"z": ("K",)}, "z", "softmax(z)"),
    ("logsumexp(Wx)", lambda W, x: sg.logsumexp(W @ x, 0), {"W": ("K", "d"), "x": ("d",)},
     "x", "W.T*softmax(W*x)"),
    ("logsumexp(X) over all entries", lambda X: sg.logsumexp(X, (0, 1)), {"X": ("N", "K")},
     "X", "1/sum(exp(X))*exp(X)"),
    ("t'softmax(z)", lambda z, t: (t * sg.softmax(z, 0)).sum(), {"z": ("K",), "t": ("K",)},
     "z", "HadamardProduct((-sum(HadamardProduct(t, softmax(z))))*ones(K, 1) + t, "
          "softmax(z))"),
    # products
    ("outer: sum(A∘xy')", lambda A, x, y: (A * sg.outer(x, y)).sum(), {"A": M, "x": V, "y": V},
     "x", "A*y"),
    ("outer wrt y", lambda A, x, y: (A * sg.outer(x, y)).sum(), {"A": M, "x": V, "y": V},
     "y", "A.T*x"),
    ("Hadamard x∘y", lambda x, y: (x * y * x).sum(), {"x": V, "y": V}, "x",
     "2*(HadamardProduct(x, y))"),
    ("sum(exp(Xw))", lambda X, w: sg.exp(X @ w).sum(), {"X": R, "w": ("d",)}, "w",
     "X.T*exp(X*w)"),
    # broadcasting: a vector is a row of a matrix, an (N, 1) column spreads along rows
    ("sum((X + b)^2) wrt the row b", lambda X, b: ((X + b) ** 2).sum(), {"X": R, "b": ("d",)},
     "b", "2*(b*ones(1, N) + X.T)*ones(N, 1)"),
    ("sum(T∘(c + b)) wrt the column c", lambda T, c, b: (T * (c + b)).sum(),
     {"T": R, "c": ("N", 1), "b": ("d",)}, "c", "T*ones(d, 1)"),
    ("sum(T∘X/c)", lambda T, X, c: (T * (X / c)).sum(), {"T": R, "X": R, "c": ("N", 1)}, "c",
     "-(HadamardProduct(HadamardPower(c*ones(1, d), -2), T, X))*ones(d, 1)"),
    ("sum(T∘exp(X - b))", lambda T, X, b: (T * sg.exp(X - b)).sum(),
     {"T": R, "X": R, "b": ("d",)}, "b", "-(HadamardProduct(exp(-b*ones(1, N) + X.T), T.T))*ones(N, 1)"),
    # kinks: relu, maximum, minimum, where
    ("relu", lambda X, w: sg.relu(X @ w).sum(), {"X": R, "w": ("d",)}, "w",
     "X.T*[X*w > 0]"),
    ("maximum(Xw, b)", lambda X, w, b: sg.maximum(X @ w, b).sum(), {"X": R, "w": ("d",),
                                                                    "b": V}, "w", "X.T*[X*w > b]"),
    ("y'minimum(x, 1/2)", lambda x, y: (y * sg.minimum(x, 0.5)).sum(), {"x": V, "y": V}, "x",
     "HadamardProduct([1/2 > x], y)"),
    ("relu as maximum(X, 0)", lambda X: sg.maximum(X, 0.0).sum(), {"X": R}, "X", "[X > 0]"),
    ("sum(X∘minimum(X, Z))", lambda X, Z: (X * sg.minimum(X, Z)).sum(), {"X": R, "Z": R}, "X",
     "HadamardProduct([X >= Z], Z) + 2*(HadamardProduct([Z > X], X))"),
    ("where(m, x, 2x)", lambda m, x, y: (y * sg.where(m, x, 2 * x)).sum(),
     {"m": V, "x": V, "y": V}, "x", "2*(HadamardProduct(-[m != 0] + ones(N, 1), y)) + "
                                    "HadamardProduct([m != 0], y)"),
    # softmax family over the rows or columns of a matrix
    ("sum(logsumexp(X, 1))", lambda X: sg.logsumexp(X, 1).sum(), {"X": ("N", "K")}, "X",
     "softmax(X, axis=1)"),
    ("sum(logsumexp(X, 0))", lambda X: sg.logsumexp(X, 0).sum(), {"X": ("N", "K")}, "X",
     "softmax(X)"),
    ("sum(T∘log_softmax(X, 1))", lambda X, T: (T * sg.log_softmax(X, 1)).sum(),
     {"X": ("N", "K"), "T": ("N", "K")}, "X",
     "-(HadamardProduct(T*ones(K, K), softmax(X, axis=1))) + T"),
    ("sum(T∘softmax(X, 0))", lambda X, T: (T * sg.softmax(X, 0)).sum(),
     {"X": ("N", "K"), "T": ("N", "K")}, "X",
     "HadamardProduct(T - ones(N, N)*(HadamardProduct(T, softmax(X))), softmax(X))"),
    # an MLP layer
    ("MLP layer dW", lambda W, x, v: (v * sg.tanh(W @ x)).sum(), {"W": ("h", "d"),
                                                                 "x": ("d",), "v": ("h",)},
     "W", "(HadamardProduct(-HadamardPower(tanh(W*x), 2) + ones(h, 1), v))*x.T"),
    ("MLP relu dW", lambda W, x, v: v @ sg.relu(W @ x), {"W": ("h", "d"), "x": ("d",),
                                                         "v": ("h",)},
     "W", "(HadamardProduct([W*x > 0], v))*x.T"),
    # diag, eye, kron (concrete dims: sg.diag builds index arrays)
    ("sum(X∘diag(x))", lambda X, x: (X * sg.diag(x)).sum(), {"X": (3, 3), "x": (3,)}, "x",
     "DiagonalOf(X)"),
    ("x'diag(X)", lambda X, x: x @ sg.diag(X), {"X": (3, 3), "x": (3,)}, "X", "DiagMatrix(x)"),
    ("sum(diag(X))", lambda X: sg.diag(X).sum(), {"X": (3, 3)}, "X", "I"),
    ("tr((X + 2I)X)", lambda X: sg.trace((X + 2 * sg.eye(3)) @ X), {"X": (3, 3)}, "X",
     "2*(I + X.T)"),
    ("tr(A⊗B) wrt A", lambda A, B: sg.trace(sg.kron(A, B)), {"A": M, "B": ("K", "K")}, "A",
     "Trace(B)*I"),
    ("sum(C∘(A⊗B)) wrt A", lambda A, B, C: (C * sg.kron(A, B)).sum(),
     {"A": (2, 2), "B": (3, 2), "C": (6, 4)}, "A", "<C, _ ⊗ B>"),
    ("sum(C∘(A⊗B)) wrt B", lambda A, B, C: (C * sg.kron(A, B)).sum(),
     {"A": (2, 2), "B": (3, 2), "C": (6, 4)}, "B", "<C, A ⊗ _>"),
    ("sum(D∘(v⊗B)) wrt v", lambda v, B, D: (D * sg.kron(v, B)).sum(),
     {"v": (2,), "B": (3, 2), "D": (3, 4)}, "v", "<D, _ ⊗ B>.T"),
    ("multinomial logistic", lambda X, W, T: -(T * sg.log_softmax(X @ W, 1)).sum(),
     {"X": R, "W": ("d", "K"), "T": ("N", "K")}, "W",
     "-X.T*(HadamardProduct(-T*ones(K, K), softmax(X*W, axis=1)) + T)"),
    ("2-layer MLP dW1", lambda W1, b1, W2, x, y: ((W2 @ sg.tanh(W1 @ x + b1) - y) ** 2).sum(),
     {"W1": ("h", "d"), "b1": ("h",), "W2": ("K", "h"), "x": ("d",), "y": ("K",)}, "W1",
     "(HadamardProduct(W2.T*(2*W2*tanh(W1*x + b1) - 2*y), "
     "-HadamardPower(tanh(W1*x + b1), 2) + ones(h, 1)))*x.T"),
    ("2-layer relu MLP db1",
     lambda W1, b1, W2, x, y: ((W2 @ sg.relu(W1 @ x + b1) - y) ** 2).sum(),
     {"W1": ("h", "d"), "b1": ("h",), "W2": ("K", "h"), "x": ("d",), "y": ("K",)}, "b1",
     "HadamardProduct(W2.T*(2*W2*(HadamardProduct(W1*x + b1, [W1*x + b1 > 0])) - 2*y), "
     "[W1*x + b1 > 0])"),
    ("batched relu MLP dW1",
     lambda W1, b1, W2, X, Y: ((sg.relu(X @ W1.T + b1) @ W2.T - Y) ** 2).mean(),
     {"W1": ("h", "d"), "b1": ("h",), "W2": ("K", "h"), "X": R, "Y": ("N", "K")}, "W1",
     "(HadamardProduct((1/(K*N))*W2.T*(2*W2*(HadamardProduct(W1*X.T + b1*ones(1, N), "
     "[W1*X.T + b1*ones(1, N) > 0])) - 2*Y.T), [W1*X.T + b1*ones(1, N) > 0]))*X"),
    # reshape and vec
    ("vec(X)'v", lambda X, v: (X.T.reshape(v.shape) * v).sum(), {"X": R, "v": ("d*N",)}, "X",
     "unvec(v, N, d)"),
    ("flatten(X)'v", lambda X, v: (X.reshape(v.shape) * v).sum(), {"X": R, "v": ("N*d",)}, "X",
     "unvec(v, d, N).T"),
]

_KINDS = {
    "det(X)": {"spd": ("X",)}, "log det(X)": {"spd": ("X",)}, "logabsdet(X)": {"spd": ("X",)},
    "log det(inv(X))": {"spd": ("X",)}, "det(AX)": {"spd": ("A", "X")},
    "tr(inv(X)A)": {"spd": ("X",)}, "a'inv(X)b": {"spd": ("X",)},
    "sum(solve(A, x))": {"spd": ("A",)}, "y'solve(A, x) wrt A": {"spd": ("A",)},
    "softmax cross-entropy": {"onehot": ("t",)}, "sum(T∘X/c)": {"positive": ("c",)}, "multinomial logistic": {"positive": ("T",)}, "where(m, x, 2x)": {"mask": ("m",)},
}


def test_battery_has_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name, build, leaves, wrt, known", CASES, ids=[c[0] for c in CASES])
def test_matrix_gradient(name, build, leaves, wrt, known):
    _check(build, leaves, wrt, known, **_KINDS.get(name, {}))
