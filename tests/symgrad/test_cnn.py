"""A small CNN (Conv2d-ReLU-MaxPool2d-Flatten-Linear) on a synthetic digit-like set (issue 13).

Without torch: the loss falls and one step's gradients equal central finite differences.
With torch: the same initial weights give the same first five SGD steps (float64, 1e-10).
"""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad import nn

_BLUR = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def strokes(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` blurred 28x28 strokes: class 0 vertical, 1 horizontal, 2 diagonal, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = np.zeros((n, 1, 28, 28))
    for k, c in enumerate(labels):
        r, q = rng.integers(7, 21, 2)
        half = int(rng.integers(4, 8))
        img = images[k, 0]
        for t in range(-half, half + 1):
            i, j = (r + t, q) if c == 0 else (r, q + t) if c == 1 else (r + t, q + t)
            img[i, j] = 1.0
        img[...] = np.apply_along_axis(np.convolve, 0, img, _BLUR, "same")
        img[...] = np.apply_along_axis(np.convolve, 1, img, _BLUR, "same")
        img += 0.05 * rng.standard_normal(img.shape)
    return images, labels


def cnn(seed: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3, seed=seed), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 13 * 13, 3, seed=seed + 1))


def _loader(images, labels, seed=3):
    ds = sg.utils.data.TensorDataset(sg.tensor(images), sg.tensor(labels))
    return sg.utils.data.DataLoader(ds, batch_size=16, shuffle=True, seed=seed)


def test_cnn_trains_and_its_gradients_match_finite_differences():
    images, labels = strokes()
    model, loss_fn = cnn(), nn.CrossEntropyLoss()
    x, y = sg.tensor(images), sg.tensor(labels)

    def loss_value() -> float:
        return loss_fn(model(x), y).item()

    model.zero_grad()
    loss_fn(model(x), y).backward()
    # Finite differences are only a witness away from kinks: no ReLU input may cross 0
    # when one weight moves by h (it moves each input by at most h * max(1, |x|)).
    rng = np.random.default_rng(1)
    h = 1e-7
    pre = sg.conv2d(x, model[0].weight, model[0].bias).value
    assert np.abs(pre).min() > 2 * h * max(1.0, np.abs(images).max())
    for name, p in model.named_parameters():
        for flat in rng.choice(p.value.size, 3, replace=False):
            idx = np.unravel_index(flat, p.shape)
            keep = p.value[idx]
            p.value[idx] = keep + h
            up = loss_value()
            p.value[idx] = keep - h
            down = loss_value()
            p.value[idx] = keep
            np.testing.assert_allclose(p.grad.value[idx], (up - down) / (2 * h), rtol=1e-5,
                                       atol=1e-9, err_msg=f"{name}{idx}")

    opt = sg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(15):                                      # 15 epochs of 4 batches
        for xb, yb in _loader(images, labels):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[0] > 1.0                                   # ~log 3 at the start
    model.eval()
    final = loss_value()
    assert final < 0.2 * losses[0], losses
    accuracy = (model(x).value.argmax(1) == labels).mean()
    assert accuracy > 0.95


def test_cnn_first_five_sgd_steps_match_torch():
    torch = pytest.importorskip("torch")
    images, labels = strokes()
    model = cnn(seed=4)
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 13 * 13, 3)).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    opt = sg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    batches = iter(list(_loader(images, labels)) * 2)
    ours, theirs = [], []
    for _ in range(5):
        xb, yb = next(batches)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = tloss_fn(ref(torch.tensor(xb.value)), torch.tensor(yb.value))
        tloss.backward()
        topt.step()
        ours.append(loss.item())
        theirs.append(tloss.item())
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    for (name, p), (tname, tp) in zip(model.named_parameters(), ref.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.value, tp.detach().numpy(), rtol=0, atol=1e-10)
