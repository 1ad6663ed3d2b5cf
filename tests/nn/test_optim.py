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


# -- bad arguments: a clear error naming the argument, before anything is stored ---------------

OPTIMISERS = [nn.optim.SGD, nn.optim.Adam, nn.optim.AdamW, nn.optim.RMSprop, nn.optim.Adagrad]


@pytest.mark.parametrize("make", OPTIMISERS)
def test_a_single_tensor_instead_of_a_list_is_a_type_error(make):
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"params must be an iterable of Tensors, got a single Tensor.*\[tensor\]"):
        make(lin.weight, lr=0.1)
    with pytest.raises(TypeError, match="got int"):
        make(5)
    with pytest.raises(TypeError, match="got dict"):
        make({"params": [lin.weight]})
    with pytest.raises(TypeError, match="holds a ndarray"):
        make([np.zeros(2)])
    with pytest.raises(TypeError, match="not a mix"):
        make([lin.weight, {"params": [lin.bias]}])


@pytest.mark.parametrize("make", OPTIMISERS)
def test_empty_groups_and_groups_without_params_are_value_errors(make):
    lin = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="parameter group 0 has an empty parameter list"):
        make([{"params": []}])
    with pytest.raises(ValueError, match="parameter group 1 has an empty parameter list"):
        make([{"params": [lin.weight]}, {"params": iter([])}])
    with pytest.raises(ValueError, match="parameter group 0 has no 'params'"):
        make([{"lr": 0.1}])
    opt = make([{"params": lin.weight}])  # a lone tensor inside a group is fine (as in PyTorch)
    assert opt.param_groups[0]["params"] == [lin.weight]


def test_only_leaf_float_tensors_that_require_grad_are_optimised():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="leaf"):
        nn.optim.SGD([x * 2])
    with pytest.raises(TypeError, match="require grad"):
        nn.optim.SGD([mg.tensor([1.0])])
    with pytest.raises(TypeError, match="floating-point.*int64"):
        nn.optim.SGD([nn.Parameter(np.array([1, 2]), requires_grad=False)])


NUMERIC_SETTINGS = [(make, name) for make in OPTIMISERS for name, check in make.SETTINGS.items()
                    if name != "betas" and check.__name__ != "_flag"]


@pytest.mark.parametrize("make, name", NUMERIC_SETTINGS)
def test_every_numeric_setting_is_checked_for_type_and_range(make, name):
    p = [nn.Parameter(np.zeros(1))]
    for bad in ("0.01", None, [0.1], True):
        with pytest.raises(TypeError, match=f"{name} must be a real number, got {type(bad).__name__}"):
            make(p, **{name: bad})
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"{name} must lie in"):
            make(p, **{name: bad})
    with pytest.raises(ValueError, match=f"parameter group 0: {name} must lie in"):  # groups are checked too
        make([{"params": p, name: -1.0}])


@pytest.mark.parametrize("make, name", [(nn.optim.SGD, "nesterov"), (nn.optim.Adam, "amsgrad"),
                                        (nn.optim.RMSprop, "centered")])
def test_flags_must_be_bools(make, name):
    with pytest.raises(TypeError, match=f"{name} must be True or False, got str"):
        make([nn.Parameter(np.zeros(1))], **{name: "yes"})


@pytest.mark.parametrize("make", [nn.optim.Adam, nn.optim.AdamW])
def test_betas_must_be_a_pair_of_numbers_in_0_1(make):
    p = [nn.Parameter(np.zeros(1))]
    with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\), got 1 value"):
        make(p, betas=(0.9,))
    with pytest.raises(ValueError, match="got 3 value"):
        make(p, betas=(0.9, 0.99, 0.5))
    with pytest.raises(TypeError, match="betas must be a pair"):
        make(p, betas=0.9)
    with pytest.raises(TypeError, match=r"betas\[1\] must be a real number, got str"):
        make(p, betas=(0.9, "0.99"))
    with pytest.raises(ValueError, match=r"betas\[0\] must lie in \[0.0, 1.0\)"):
        make(p, betas=(1.0, 0.9))
    assert make(p, betas=[0.5, 0.6]).defaults["betas"] == (0.5, 0.6)


def test_unknown_settings_are_named():
    with pytest.raises(ValueError, match=r"unknown settings \['momentum'\]"):
        nn.optim.Adam([{"params": [nn.Parameter(np.zeros(1))], "momentum": 0.9}])


def test_load_state_dict_checks_the_saved_settings_before_changing_anything():
    p = nn.Parameter(np.zeros(2))
    opt = nn.optim.Adam([p], lr=0.1)
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = "fast"
    with pytest.raises(TypeError, match="saved parameter group 0: lr must be a real number"):
        opt.load_state_dict(saved)
    saved["param_groups"][0].update(lr=0.5, betas=(0.9,))
    with pytest.raises(ValueError, match="saved parameter group 0: betas must be a pair"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="expected a dict with 'state'"):
        opt.load_state_dict({"state": {}, "param_groups": [1]})
