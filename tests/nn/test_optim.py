"""Each optimiser against its published update rule, computed by hand here."""

import math

import numpy as np
import pytest

import minigrad as mg
import nn

P0 = np.array([1.0, -2.0, 3.0])
A = np.array([1.0, 2.0, 0.5])  # loss = Σ A·p²/2 + p, so grad = A·p + 1


def grad_of(p):
    return A * p + 1


def run(make_optimizer, steps=3):
    p = nn.Parameter(P0.copy())
    opt = make_optimizer([p])
    for _ in range(steps):
        opt.zero_grad()
        ((mg.tensor(A) * p * p).sum() * 0.5 + p.sum()).backward()
        opt.step()
    return p.data, opt


def by_hand_sgd(lr, momentum=0.0, dampening=0.0, wd=0.0, nesterov=False, steps=3):
    p, buf = P0.copy(), None
    for _ in range(steps):
        g = grad_of(p) + wd * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3},
                                {"momentum": 0.8, "nesterov": True}, {"weight_decay": 0.1, "momentum": 0.5}])
def test_sgd(kw):
    ours, _ = run(lambda ps: nn.optim.SGD(ps, lr=0.1, **kw))
    expected = by_hand_sgd(0.1, kw.get("momentum", 0), kw.get("dampening", 0), kw.get("weight_decay", 0),
                           kw.get("nesterov", False))
    np.testing.assert_allclose(ours, expected, rtol=1e-13)


def by_hand_adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False, amsgrad=False, steps=3):
    p, m, v, vmax = P0.copy(), 0.0, 0.0, 0.0
    for t in range(1, steps + 1):
        g = grad_of(p)
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(vhat) + eps)
    return p


@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.1}, {"amsgrad": True}, {"betas": (0.5, 0.9), "eps": 1e-3}])
def test_adam(kw):
    ours, _ = run(lambda ps: nn.optim.Adam(ps, lr=0.1, **kw))
    b1, b2 = kw.get("betas", (0.9, 0.999))
    expected = by_hand_adam(0.1, b1, b2, kw.get("eps", 1e-8), kw.get("weight_decay", 0),
                            amsgrad=kw.get("amsgrad", False))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_adamw_decays_decoupled_with_default_0_01():
    ours, _ = run(lambda ps: nn.optim.AdamW(ps, lr=0.1))
    np.testing.assert_allclose(ours, by_hand_adam(0.1, wd=0.01, decoupled=True), rtol=1e-12)


def by_hand_rmsprop(lr, alpha=0.99, eps=1e-8, wd=0.0, momentum=0.0, centered=False, steps=3):
    p, sq, avg, buf = P0.copy(), 0.0, 0.0, 0.0
    for _ in range(steps):
        g = grad_of(p) + wd * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            avg = alpha * avg + (1 - alpha) * g
            denom = np.sqrt(sq - avg * avg) + eps
        else:
            denom = np.sqrt(sq) + eps
        if momentum:
            buf = momentum * buf + g / denom
            p = p - lr * buf
        else:
            p = p - lr * g / denom
    return p


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.9}, {"centered": True}, {"weight_decay": 0.2}])
def test_rmsprop(kw):
    ours, _ = run(lambda ps: nn.optim.RMSprop(ps, lr=0.01, **kw))
    expected = by_hand_rmsprop(0.01, wd=kw.get("weight_decay", 0), momentum=kw.get("momentum", 0),
                               centered=kw.get("centered", False))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_adagrad():
    ours, _ = run(lambda ps: nn.optim.Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1))
    p, s = P0.copy(), 0.1
    for t in range(1, 4):
        g = grad_of(p)
        s = s + g * g
        p = p - 0.1 / (1 + (t - 1) * 0.01) * g / (np.sqrt(s) + 1e-10)
    np.testing.assert_allclose(ours, p, rtol=1e-12)


def test_defaults_match_pytorch():
    p = [nn.Parameter(np.zeros(1))]
    assert nn.optim.SGD(p).defaults["lr"] == 1e-3
    assert nn.optim.Adam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False)
    assert nn.optim.AdamW(p).defaults["weight_decay"] == 1e-2
    assert nn.optim.RMSprop(p).defaults["lr"] == 1e-2 and nn.optim.RMSprop(p).defaults["alpha"] == 0.99
    assert nn.optim.Adagrad(p).defaults["eps"] == 1e-10


@pytest.mark.parametrize("make", [lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: nn.optim.Adam(ps, lr=0.1, amsgrad=True),
                                  lambda ps: nn.optim.RMSprop(ps, momentum=0.5, centered=True),
                                  lambda ps: nn.optim.Adagrad(ps)])
def test_state_dict_round_trip_continues_identically(make, tmp_path):
    _, opt = run(make, steps=2)
    p = opt.param_groups[0]["params"][0]
    nn.save({"param": p.data, "opt": opt.state_dict()}, tmp_path / "opt.npz")
    checkpoint = nn.load(tmp_path / "opt.npz")
    clone = nn.Parameter(checkpoint["param"].copy())
    opt2 = make([clone])
    opt2.load_state_dict(checkpoint["opt"])
    for param, optimizer in ((p, opt), (clone, opt2)):
        for _ in range(2):
            optimizer.zero_grad()
            ((mg.tensor(A) * param * param).sum() * 0.5 + param.sum()).backward()
            optimizer.step()
    np.testing.assert_array_equal(p.data, clone.data)


def test_failed_step_changes_nothing():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = nn.optim.SGD([a, b], lr=1.0)
    a.grad = mg.tensor(np.ones(2))
    b.grad = mg.tensor(np.ones(4))  # wrong shape
    with pytest.raises(ValueError, match="shape"):
        opt.step()
    np.testing.assert_array_equal(a.data, 1.0)
    b.grad = mg.tensor([1.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        opt.step()
    np.testing.assert_array_equal(a.data, 1.0)


def test_bad_settings():
    p = [nn.Parameter(np.zeros(1))]
    with pytest.raises(ValueError, match="lr"):
        nn.optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        nn.optim.SGD(p, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        nn.optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        nn.optim.Adam([])


def test_param_groups_have_their_own_lr():
    a, b = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    opt = nn.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = mg.tensor([1.0]), mg.tensor([1.0])
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.0)


def test_schedules():
    p = [nn.Parameter(np.zeros(1))]
    opt = nn.optim.SGD(p, lr=1.0)
    step = nn.optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        step.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt = nn.optim.SGD(p, lr=1.0)
    cosine = nn.optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    values = []
    for _ in range(4):
        cosine.step()
        values.append(cosine.get_last_lr()[0])
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(1, 5)]
    np.testing.assert_allclose(values, expected)
