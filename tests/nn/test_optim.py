"""Each optimiser against its published update rule, computed by hand here."""

import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from nn._checks import check_flag

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
    b.grad = mg.tensor(np.ones(3))
    b.grad.data = np.ones(4)  # wrong shape (assigning .grad itself checks the shape)
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


@pytest.mark.parametrize("make", OPTIMISERS)
def test_a_gradient_its_parameters_dtype_cannot_hold_is_refused_before_any_change(make):
    """A float64 gradient on a float32 parameter: 1e39 is finite in float64 but
    inf in float32, so step() refuses it, naming the parameter and both dtypes."""
    a, b = nn.Parameter(mg.zeros(2)), nn.Parameter(mg.zeros(2))
    opt = make([a, b], lr=0.1)
    a.grad = mg.tensor(np.ones(2, dtype=np.float32))
    for grad, dtype in ((np.array([1e39, 1.0]), "float64"), (np.array([1, 2]), "int64")):
        b.grad = mg.tensor(np.zeros(2))
        b.grad.data = grad  # (assigning .grad itself refuses an integer tensor)
        with pytest.raises(TypeError, match=f"gradient of parameter 1 has dtype {dtype}, the parameter float32"):
            opt.step()
        np.testing.assert_array_equal(a.data, 0.0)
        np.testing.assert_array_equal(b.data, 0.0)
        assert opt.state == {}
    b.grad = mg.tensor(np.ones(2, dtype=np.float16))  # narrower: held exactly, so used
    opt.step()
    assert (a.data < 0).all() and (b.data < 0).all() and b.dtype == np.float32


def test_a_parameter_listed_twice_is_named_as_such():
    p, q = nn.Parameter(mg.zeros(2)), nn.Parameter(mg.zeros(3))
    with pytest.raises(ValueError, match=r"parameter group 0 lists a parameter \(shape \(2,\)\) twice"):
        nn.optim.SGD([p, q, p], lr=0.1)
    with pytest.raises(ValueError, match=r"a parameter \(shape \(2,\)\) appears in parameter groups 0 and 1"):
        nn.optim.SGD([{"params": [p, q]}, {"params": [p]}], lr=0.1)


NUMERIC_SETTINGS = [(make, name) for make in OPTIMISERS for name, check in make.SETTINGS.items()
                    if name != "betas" and check is not check_flag]


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


# -- learning-rate schedules: PyTorch's formulas, errors, state_dict round trips ----------------

def sgd(lrs=(1.0,)):
    return nn.optim.SGD([{"params": [nn.Parameter(np.zeros(1))], "lr": lr} for lr in lrs])


def lrs_over(schedule, epochs, metrics=None):
    """The lr of every group at epoch 0 (after construction) and after each step."""
    history = [schedule.get_last_lr()]
    for e in range(epochs):
        schedule.step() if metrics is None else schedule.step(metrics[e])
        history.append(schedule.get_last_lr())
    return np.array(history)


def test_lambda_lr_is_base_times_lambda_from_epoch_0():
    opt = sgd((0.1, 2.0))
    schedule = nn.optim.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1 / (e + 1)])
    expected = [[0.1 * 0.5 ** e, 2.0 / (e + 1)] for e in range(6)]
    np.testing.assert_allclose(lrs_over(schedule, 5), expected, rtol=1e-15)
    warmup = nn.optim.LambdaLR(sgd(), lambda e: min(1.0, (e + 1) / 3))
    np.testing.assert_allclose(lrs_over(warmup, 4)[:, 0], [1 / 3, 2 / 3, 1, 1, 1])


def test_linear_lr_follows_its_closed_form():
    for start, end, total in ((1 / 3, 1.0, 5), (1.0, 0.1, 4), (0.05, 1.0, 40)):
        opt = sgd((0.05, 1.0))
        history = lrs_over(nn.optim.LinearLR(opt, start, end, total), 50)
        factors = [start + (end - start) * min(e, total) / total for e in range(51)]
        np.testing.assert_allclose(history, np.outer(factors, [0.05, 1.0]), rtol=1e-14)
    assert lrs_over(nn.optim.LinearLR(sgd()), 0)[0, 0] == pytest.approx(1 / 3)  # the warm-up starts at once


def reference_plateau(metrics, lr, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                      cooldown=0, min_lr=0.0, eps=1e-8):
    """ReduceLROnPlateau as PyTorch's documentation and source describe it, transcribed for this test."""
    best = math.inf if mode == "min" else -math.inf
    bad = cool = 0
    lrs = [lr]
    for m in metrics:
        if mode == "min":
            better = m < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = m > (best * (threshold + 1) if threshold_mode == "rel" else best + threshold)
        if better:
            best, bad = m, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cool, bad = cooldown, 0
        lrs.append(lr)
    return lrs


def test_reduce_lr_on_plateau_by_hand():
    schedule = nn.optim.ReduceLROnPlateau(sgd(), factor=0.5, patience=2, threshold=0.1, cooldown=1)
    metrics = [10, 9.5, 9.2, 9.1, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    #  best 10, bad 1, 2, 3 -> halve, better (cooldown), bad 1, 2, 3 -> halve, cooldown, bad 1
    np.testing.assert_array_equal(lrs_over(schedule, 10, metrics)[:, 0],
                                  [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])
    floor = nn.optim.ReduceLROnPlateau(sgd(), factor=0.5, patience=0, min_lr=0.3)
    np.testing.assert_array_equal(lrs_over(floor, 4, [1, 1, 1, 1])[:, 0], [1, 1, 0.5, 0.3, 0.3])
    up = nn.optim.ReduceLROnPlateau(sgd(), mode="max", threshold=1, threshold_mode="abs", patience=0)
    np.testing.assert_allclose(lrs_over(up, 3, [1, 1.5, 2.1])[:, 0], [1, 1, 0.1, 0.1])  # 2.1 > 1 + 1 is better


@given(st.lists(st.one_of(st.floats(-5, 5), st.just(float("nan"))), min_size=1, max_size=30),
       st.sampled_from(["min", "max"]), st.sampled_from(["rel", "abs"]), st.integers(0, 3), st.integers(0, 2),
       st.sampled_from([0.0, 0.01, 0.5]))
def test_reduce_lr_on_plateau_matches_pytorchs_definition(metrics, mode, threshold_mode, patience, cooldown, min_lr):
    settings = dict(mode=mode, factor=0.5, patience=patience, threshold=0.05, threshold_mode=threshold_mode,
                    cooldown=cooldown, min_lr=min_lr)
    schedule = nn.optim.ReduceLROnPlateau(sgd(), **settings)
    np.testing.assert_array_equal(lrs_over(schedule, len(metrics), metrics)[:, 0],
                                  reference_plateau(metrics, 1.0, **settings))


def test_plateau_takes_tensors_and_arrays_as_metrics():
    schedule = nn.optim.ReduceLROnPlateau(sgd(), patience=0)
    schedule.step(mg.tensor(1.0))
    schedule.step(np.array([2.0]))
    assert schedule.get_last_lr() == [0.1] and schedule.best == 1.0
    with pytest.raises(TypeError, match="metrics must be a number"):
        schedule.step("1.0")
    with pytest.raises(TypeError, match="metrics must be a number"):
        schedule.step(np.ones(2))


def make_schedules():
    return {
        "lambda": lambda opt: nn.optim.LambdaLR(opt, lambda e: 0.9 ** e),
        "linear": lambda opt: nn.optim.LinearLR(opt, 0.25, 1.0, 6),
        "step": lambda opt: nn.optim.StepLR(opt, 2, 0.5),
        "exponential": lambda opt: nn.optim.ExponentialLR(opt, 0.8),
        "cosine": lambda opt: nn.optim.CosineAnnealingLR(opt, 8, 0.01),
        "plateau": lambda opt: nn.optim.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1),
    }


@pytest.mark.parametrize("name", list(make_schedules()))
def test_schedule_state_dict_round_trip_continues_identically(name, tmp_path):
    make = make_schedules()[name]
    metrics = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3]
    plateau = name == "plateau"
    whole_opt = sgd((0.1, 1.0))
    whole = lrs_over(make(whole_opt), 10, metrics if plateau else None)
    opt = sgd((0.1, 1.0))
    first = make(opt)
    lrs_over(first, 4, metrics[:4] if plateau else None)
    nn.save({"optimizer": opt.state_dict(), "schedule": first.state_dict()}, tmp_path / "c.npz")
    checkpoint = nn.load(tmp_path / "c.npz")
    resumed_opt = sgd((0.1, 1.0))
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    resumed = make(resumed_opt)
    resumed.load_state_dict(checkpoint["schedule"])
    rest = lrs_over(resumed, 6, metrics[4:] if plateau else None)[1:]
    np.testing.assert_array_equal(rest, whole[5:])


def test_schedule_arguments_are_checked_before_anything_changes():
    opt = sgd((0.1,))
    with pytest.raises(TypeError, match="needs an Optimizer"):
        nn.optim.LinearLR([opt])
    for bad, error in ((0.0, ValueError), (1.5, ValueError), ("0.5", TypeError)):
        with pytest.raises(error, match="start_factor"):
            nn.optim.LinearLR(opt, start_factor=bad)
    with pytest.raises(ValueError, match="end_factor"):
        nn.optim.LinearLR(opt, end_factor=-0.1)
    with pytest.raises(ValueError, match="total_iters must be >= 1, got 0"):
        nn.optim.LinearLR(opt, total_iters=0)
    with pytest.raises(TypeError, match="total_iters must be an int"):
        nn.optim.LinearLR(opt, total_iters=2.5)
    with pytest.raises(TypeError, match="lr_lambda must be a function"):
        nn.optim.LambdaLR(opt, 0.5)
    with pytest.raises(ValueError, match=r"lr_lambda must have one entry per parameter group \(1\), got 2"):
        nn.optim.LambdaLR(opt, [abs, abs])
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        nn.optim.ReduceLROnPlateau(opt, mode="minimum")
    with pytest.raises(ValueError, match="threshold_mode"):
        nn.optim.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="factor must lie in"):
        nn.optim.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match=r"min_lr must have one entry per parameter group \(1\), got 2"):
        nn.optim.ReduceLROnPlateau(opt, min_lr=[0.0, 0.1])
    with pytest.raises(ValueError, match="patience must be >= 0"):
        nn.optim.ReduceLROnPlateau(opt, patience=-1)
    with pytest.raises(ValueError, match="T_max must be >= 1"):
        nn.optim.CosineAnnealingLR(opt, T_max=0)
    assert opt.param_groups[0]["lr"] == 0.1


def test_a_bad_lambda_value_changes_nothing():
    opt = sgd((0.1,))
    schedule = nn.optim.LambdaLR(opt, lambda e: [1.0, float("nan"), "x"][min(e, 2)])
    with pytest.raises(ValueError, match="the lr of parameter group 0 at epoch 1 must lie in"):
        schedule.step()
    assert schedule.last_epoch == 0 and opt.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="LambdaLR.load_state_dict: expected the keys"):
        schedule.load_state_dict({"last_epoch": 3})
    assert schedule.last_epoch == 0


# -- one schedule per optimiser: a changed lr is an error, not overwritten --------------------

def test_two_closed_form_schedules_on_one_optimiser_refuse_to_step():
    """Each used to overwrite the other's lr with its own closed form (PyTorch
    chains them): LinearLR's warm-up factor never went away under ExponentialLR."""
    opt = sgd((1.0,))
    warmup, decay = nn.optim.LinearLR(opt, start_factor=0.5, total_iters=2), nn.optim.ExponentialLR(opt, gamma=0.9)
    warmup.step()
    with pytest.raises(RuntimeError, match="lr of parameter group 0 is 0.75, not the 0.5 this schedule set at "
                                           "epoch 0: another schedule or your code changed it.*LambdaLR"):
        decay.step()
    assert decay.last_epoch == 0 and opt.param_groups[0]["lr"] == 0.75


def test_an_lr_changed_by_hand_or_by_a_plateau_stops_a_closed_form_schedule():
    opt = sgd((1.0, 0.5))
    schedule = nn.optim.StepLR(opt, step_size=2, gamma=0.1)
    schedule.step()
    opt.param_groups[1]["lr"] = 0.2
    with pytest.raises(RuntimeError, match="parameter group 1 is 0.2, not the 0.5 .* at epoch 1"):
        schedule.step()
    assert schedule.last_epoch == 1 and [g["lr"] for g in opt.param_groups] == [1.0, 0.2]
    opt = sgd((1.0,))
    schedule, plateau = nn.optim.StepLR(opt, step_size=100), nn.optim.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    schedule.step(), plateau.step(1.0), schedule.step(), plateau.step(1.0)  # the plateau halves the lr
    with pytest.raises(RuntimeError, match="is 0.5, not the 1.0"):
        schedule.step()


def test_a_new_schedule_takes_over_from_one_no_longer_stepped_or_from_an_lr_set_by_hand():
    opt = sgd((1.0,))
    warmup = nn.optim.LinearLR(opt, start_factor=0.5, total_iters=2)
    warmup.step(), warmup.step()
    decay = nn.optim.ExponentialLR(opt, gamma=0.5)
    assert lrs_over(decay, 2)[:, 0].tolist() == [1.0, 0.5, 0.25]
    opt.param_groups[0]["lr"] = 0.1
    cosine = nn.optim.CosineAnnealingLR(opt, T_max=2)
    np.testing.assert_allclose(lrs_over(cosine, 2)[:, 0], [0.1, 0.05, 0.0], atol=1e-17)


def test_loading_a_schedule_sets_the_lrs_it_had_set():
    """Made on a resumed optimiser, LinearLR scales its lr by start_factor; the loaded state puts it back."""
    opt = sgd((1.0,))
    saved = nn.optim.LinearLR(opt, 0.25, 1.0, 6)
    lrs_over(saved, 2)  # lr 0.5 at epoch 2
    resumed = sgd((1.0,))
    resumed.load_state_dict(opt.state_dict())
    schedule = nn.optim.LinearLR(resumed, 0.25, 1.0, 6)  # lr 0.125 until the state is loaded
    schedule.load_state_dict(saved.state_dict())
    assert schedule.get_last_lr() == [0.5] and lrs_over(schedule, 1)[1, 0] == 0.625


# -- a schedule's load_state_dict holds the saved values to the constructor's rules -------------

def test_schedule_state_for_another_number_of_groups_is_refused():
    """zip used to truncate: the second group was then never scheduled."""
    one = nn.optim.StepLR(sgd((1.0,)), 1, 0.5)
    one.step()
    for schedule in (nn.optim.StepLR(sgd((1.0, 0.2)), 1, 0.5), nn.optim.ReduceLROnPlateau(sgd((1.0, 0.2)))):
        state = one.state_dict() if isinstance(schedule, nn.optim.StepLR) else {**schedule.state_dict(),
                                                                               "min_lrs": [0.0]}
        before = schedule.state_dict()
        with pytest.raises(ValueError, match=r"one value per parameter group \(2\), got \[.*\]"):
            schedule.load_state_dict(state)
        assert schedule.state_dict() == before and schedule.get_last_lr() == [1.0, 0.2]


@pytest.mark.parametrize("name, key, value, error", [
    ("step", "step_size", 0, ValueError), ("step", "gamma", -0.5, ValueError), ("step", "last_epoch", 1.5, TypeError),
    ("step", "base_lrs", [float("nan"), 1.0], ValueError), ("linear", "start_factor", 0.0, ValueError),
    ("linear", "total_iters", 0, ValueError), ("cosine", "T_max", 0, ValueError),
    ("exponential", "gamma", "0.8", TypeError), ("lambda", "last_epoch", -1, ValueError),
    ("plateau", "mode", "minimum", ValueError), ("plateau", "factor", 1.0, ValueError),
    ("plateau", "patience", -1, ValueError), ("plateau", "min_lrs", [0.0, -1.0], ValueError),
    ("plateau", "best", float("nan"), ValueError), ("plateau", "cooldown_counter", True, TypeError),
])
def test_schedule_state_with_bad_values_is_refused_before_it_changes_anything(name, key, value, error):
    """step_size=0 used to load, and the next step() died of a ZeroDivisionError."""
    opt = sgd((0.1, 1.0))
    schedule = make_schedules()[name](opt)
    before, lrs = schedule.state_dict(), schedule.get_last_lr()
    with pytest.raises(error, match=f"load_state_dict: {key}"):
        schedule.load_state_dict({**before, key: value})
    assert schedule.state_dict() == before and schedule.get_last_lr() == lrs


def test_a_schedule_checks_the_lrs_it_wrote_and_the_groups_it_was_made_for():
    """(Found by review.) The check against another schedule recomputed the lr it had set: a stateful
    multiplicative lambda was called twice per step and raised; a group appended after the schedule was never
    scheduled (zip); a bool lr became base_lrs [True]; ReduceLROnPlateau named min_lrs, not its min_lr."""
    state, calls = {"factor": 1.0}, []

    def multiplicative(epoch):
        calls.append(epoch)
        if epoch > 0:
            state["factor"] *= 0.9
        return state["factor"]

    optimizer = nn.optim.SGD([nn.Parameter(np.ones(2))], lr=0.1)
    schedule = nn.optim.LambdaLR(optimizer, multiplicative)
    schedule.step()
    schedule.step()
    schedule.step()
    assert calls == [0, 1, 2, 3] and optimizer.param_groups[0]["lr"] == pytest.approx(0.0729)
    step = nn.optim.StepLR(optimizer, 1, gamma=0.5)
    optimizer.param_groups.append({**optimizer.param_groups[0], "params": [nn.Parameter(np.ones(2))], "lr": 1.0})
    with pytest.raises(ValueError, match="has 2 parameter groups, the schedule was made for 1"):
        step.step()
    flagged = nn.optim.SGD([nn.Parameter(np.ones(2))], lr=0.1)
    flagged.param_groups[0]["lr"] = True
    with pytest.raises(TypeError, match="base_lrs"):
        nn.optim.StepLR(flagged, 2)
    with pytest.raises(ValueError, match=r"min_lr\[0\]"):
        nn.optim.ReduceLROnPlateau(nn.optim.SGD([nn.Parameter(np.ones(2))], lr=0.1), min_lr=-1)


@pytest.mark.parametrize("make, setting, value", [
    (lambda ps: nn.optim.Adam(ps, lr=0.1), "amsgrad", True),
    (lambda ps: nn.optim.RMSprop(ps), "momentum", 0.9),
    (lambda ps: nn.optim.RMSprop(ps), "centered", True)])
def test_a_setting_turned_on_mid_training_starts_its_state_at_zero(make, setting, value):
    """Turning on amsgrad (or RMSprop's momentum or centering) after some steps
    raised a KeyError for the missing buffer after the others had been updated
    in place, so a retry counted that step twice. Its buffer now starts at zero,
    as at the first step: the next step is then the plain one (max(0, v) = v;
    the momentum buffer 0·μ + g/d) or, centered, uses the average (1 − α)·g."""
    _, plain = run(make, steps=2)
    _, opt = run(make, steps=2)
    opt.param_groups[0][setting] = value
    p = opt.param_groups[0]["params"][0].data.copy()
    state = opt.state[id(opt.param_groups[0]["params"][0])]
    square_avg = 0.99 * state["square_avg"] + 0.01 * grad_of(p) ** 2 if setting == "centered" else None
    for optimizer in (plain, opt):
        param = optimizer.param_groups[0]["params"][0]
        optimizer.zero_grad()
        ((mg.tensor(A) * param * param).sum() * 0.5 + param.sum()).backward()
        optimizer.step()
    got, plain_step = opt.param_groups[0]["params"][0].data, plain.param_groups[0]["params"][0].data
    if setting != "centered":
        np.testing.assert_allclose(got, plain_step, rtol=1e-15)
    else:
        g = grad_of(p)
        np.testing.assert_allclose(got, p - 1e-2 * g / (np.sqrt(square_avg - (0.01 * g) ** 2) + 1e-8), rtol=1e-13)


def two_stepped(make):
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = make([a, b])
    for p in (a, b):
        p.grad = mg.tensor(np.ones(p.shape))
    opt.step()
    return a, b, opt


@pytest.mark.parametrize("edit, error, message", [
    (lambda s: s[1].update(exp_avg=[0.1, 0.1, 0.1]), TypeError, "state 'exp_avg' of parameter 1 is a list"),
    (lambda s: s[1].update(exp_avg=np.zeros(3, int)), TypeError, "'exp_avg' of parameter 1 has dtype int64"),
    (lambda s: s[1].pop("exp_avg"), ValueError, r"state of parameter 1 lacks \['exp_avg'\]"),
    (lambda s: s[1].pop("step"), ValueError, r"lacks \['step'\]"),
    (lambda s: s[1].update(step="3"), TypeError, "'step' of parameter 1 must be an int"),
    (lambda s: s[1].update(step=-1), ValueError, "'step' of parameter 1 must be >= 0"),
    (lambda s: s[1].update(step=2.5), TypeError, "'step' of parameter 1 must be an int, got float 2.5"),
    (lambda s: s[1].update(momentum_buffer=np.zeros(3)), ValueError, r"unknown state \['momentum_buffer'\]"),
    (lambda s: s.update({1: 5}), TypeError, "the state of parameter 1 must be a dict"),
    (lambda s: s.update({1.5: s.pop(1)}), TypeError, "state keys are parameter numbers"),
    (lambda s: s.update({"1": s[1]}), ValueError, "state for parameter 1 twice")])
def test_a_state_that_step_could_not_use_is_refused_by_load_before_anything_changes(edit, error, message):
    """Such a state loaded, and the next step() failed (TypeError, KeyError)
    after the parameters before it had been updated."""
    _, _, saved = two_stepped(lambda ps: nn.optim.Adam(ps, lr=0.1))
    saved = saved.state_dict()
    edit(saved["state"])
    a, _, opt = two_stepped(lambda ps: nn.optim.Adam(ps, lr=0.5))
    before = opt.state_dict()
    with pytest.raises(error, match=message):
        opt.load_state_dict(saved)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"] and after["state"].keys() == before["state"].keys()
    for i, s in before["state"].items():
        assert all(np.array_equal(after["state"][i][k], v) for k, v in s.items())


def test_loaded_state_arrays_take_their_parameters_dtype():
    """As in PyTorch: float32 moments of a float64 parameter would round every later step to float32."""
    _, _, saved = two_stepped(lambda ps: nn.optim.Adam(ps))
    saved = saved.state_dict()
    saved["state"][1]["exp_avg"] = saved["state"][1]["exp_avg"].astype(np.float32)
    _, b, opt = two_stepped(lambda ps: nn.optim.Adam(ps))
    opt.load_state_dict(saved)
    assert opt.state[id(b)]["exp_avg"].dtype == np.float64 and opt.state[id(b)]["step"] == 1


def test_a_subclass_without_state_names_loads_its_state_as_saved():
    class Counting(nn.optim.SGD):
        STATE = None

        def _update(self, p, g, state, group):
            state["seen"] = state.get("seen", []) + [float(g.sum())]
            super()._update(p, g, state, group)

    _, _, opt = two_stepped(Counting)
    saved = opt.state_dict()
    _, b, fresh = two_stepped(lambda ps: Counting(ps, lr=0.5))
    fresh.load_state_dict(saved)
    assert fresh.state[id(b)] == {"seen": [3.0]}
    saved["state"][1]["extra"] = np.zeros(2)
    with pytest.raises(ValueError, match="'extra' of parameter 1 has shape"):
        fresh.load_state_dict(saved)


def test_a_step_saved_as_pytorch_does_loads_as_a_count():
    """PyTorch keeps "step" as a 0-d float tensor: as an array (or a whole float) it is the same count."""
    _, _, saved = two_stepped(lambda ps: nn.optim.Adam(ps))
    saved = saved.state_dict()
    saved["state"][0]["step"], saved["state"][1]["step"] = np.array(1.0, np.float32), 1.0
    a, b, opt = two_stepped(lambda ps: nn.optim.Adam(ps))
    opt.load_state_dict(saved)
    assert opt.state[id(a)]["step"] == 1 and type(opt.state[id(b)]["step"]) is int


@pytest.mark.parametrize("make, setting, value, error", [
    (lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9), "lr", "0.1", TypeError),
    (lambda ps: nn.optim.Adam(ps), "lr", None, TypeError),
    (lambda ps: nn.optim.Adam(ps), "betas", (0.9, 1.5), ValueError),
    (lambda ps: nn.optim.RMSprop(ps, momentum=0.5), "alpha", float("nan"), ValueError),
    (lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9), "nesterov", True, ValueError)])  # (dampening 0: fine)
def test_a_setting_changed_by_hand_is_checked_before_a_step_changes_anything(make, setting, value, error):
    """group["lr"] = args.lr (a string from argparse) updated the momentum buffer (Adam: the moments and
    the step count) in place, then failed on the parameter with a message naming no setting; a retry
    then counted the gradient twice."""
    _, opt = run(make, steps=2)
    p = opt.param_groups[0]["params"][0]
    before = (p.data.copy(), copy.deepcopy(opt.state))
    opt.param_groups[0][setting] = value
    if setting == "nesterov":
        opt.param_groups[0]["dampening"] = 0.5
    ((mg.tensor(A) * p * p).sum() * 0.5 + p.sum()).backward()
    with pytest.raises(error, match=f"parameter group 0: {setting if setting != 'nesterov' else 'nesterov needs'}"):
        opt.step()
    np.testing.assert_array_equal(p.data, before[0])
    for name, value in before[1][id(p)].items():
        np.testing.assert_array_equal(opt.state[id(p)][name], value)


def test_extra_keys_added_to_a_group_by_hand_do_not_stop_a_step():
    """PyTorch allows them (schedules add "initial_lr", users add names)."""
    _, opt = run(lambda ps: nn.optim.SGD(ps, lr=0.1), steps=1)
    opt.param_groups[0]["name"] = "encoder"
    p = opt.param_groups[0]["params"][0]
    ((mg.tensor(A) * p * p).sum() * 0.5 + p.sum()).backward()
    opt.step()


@pytest.mark.parametrize("make", OPTIMISERS)
def test_a_set_of_parameters_is_a_type_error(make):
    """A set's order follows the tensors' hashes (their addresses), so the numbering state_dict() uses
    changed from run to run: a resumed run gave one parameter's momentum to another of the same shape,
    silently. PyTorch refuses sets too."""
    lin = nn.Linear(2, 2)
    for params in ({lin.weight, lin.bias}, frozenset([lin.weight]), [{"params": {lin.weight}}]):
        with pytest.raises(TypeError, match="params.* a set has no order; give a list"):
            make(params, lr=0.1)


def test_an_optional_state_saved_as_none_loads_as_absent():
    """PyTorch 1.x's SGD saved momentum_buffer None (no momentum yet): the buffer starts at the next step."""
    a, b, opt = two_stepped(lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9))
    saved = opt.state_dict()
    saved["state"][1]["momentum_buffer"] = None
    opt.load_state_dict(saved)
    assert "momentum_buffer" not in opt.state[id(b)] and "momentum_buffer" in opt.state[id(a)]
    _, _, adam = two_stepped(nn.optim.Adam)
    saved = adam.state_dict()
    saved["state"][1]["step"] = None  # (a required state is not optional)
    with pytest.raises(TypeError, match="state 'step' of parameter 1 must be an int, got NoneType"):
        adam.load_state_dict(saved)


@pytest.mark.parametrize("make", [lambda ps: nn.optim.Adam(ps, lr=0.1),
                                  lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: nn.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True)])
def test_state_follows_a_model_cast_by_to(make):
    """After model.to(np.float64) the moments stayed float32, and every later step was rounded through
    them without a word: a run cast to float64 after two steps differed from one in float64 throughout."""
    def run(cast_after: bool) -> np.ndarray:
        mg.manual_seed(0)
        model = nn.Linear(3, 2)
        if not cast_after:
            model.to(np.float64)
        opt = make(list(model.parameters()))
        x = np.random.default_rng(1).standard_normal((4, 3))
        for step in range(5):
            if cast_after and step == 2:
                model.to(np.float64)
            opt.zero_grad()
            (model(x.astype(model.weight.dtype)) ** 2).sum().backward()
            opt.step()
        assert all(v.dtype == np.float64 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))
        return model.weight.data

    reference = run(cast_after=False)
    np.testing.assert_allclose(run(cast_after=True), reference, rtol=1e-5)  # (two float32 steps, then float64)


def test_step_leaves_a_custom_optimizers_non_float_state_alone():
    """step() cast every state array to the parameter's dtype: a custom optimizer's int64 count of
    updates became float64 at its second step, without a word. Only float state follows the parameter."""

    class Counting(nn.optim.Optimizer):
        SETTINGS = dict(lr=nn.optim._nonnegative)

        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        def _update(self, p, g, state, group):
            state.setdefault("count", np.zeros(p.data.shape, dtype=np.int64))
            state["count"] += 1
            p.data -= group["lr"] * g

    p = nn.Parameter(np.ones(3))
    opt = Counting([p])
    for _ in range(2):
        p.grad = mg.tensor(np.ones(3))
        opt.step()
    assert opt.state[id(p)]["count"].dtype == np.int64
    np.testing.assert_array_equal(opt.state[id(p)]["count"], [2, 2, 2])
