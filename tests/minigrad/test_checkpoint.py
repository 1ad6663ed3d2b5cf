"""mg.checkpoint: the same values and gradients as f itself (float64), random
draws repeated, parameters found, what it cannot do refused, memory O(√T)."""

import threading
import tracemalloc
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from nn import functional as F


def lstm_setup(seed=0, steps=24, batch=2):
    rng = np.random.default_rng(seed)
    lstm = nn.LSTM(3, 4, rng=rng).to(np.float64)
    readout = nn.Linear(4, 2, rng=rng).to(np.float64)
    x = mg.tensor(rng.standard_normal((steps, batch, 3)))
    y = mg.tensor(rng.standard_normal((steps, batch, 2)))
    return lstm, readout, x, y


def chunk_loss(lstm, readout, dropout):
    def chunk(x, y, state):
        out, (h, c) = lstm(x, (state[0][None], state[1][None]))
        err = readout(F.dropout(out, dropout, training=dropout > 0)) - y
        return (h[0], c[0]), (err * err).mean()
    return chunk


def run(lstm, readout, x, y, size, checkpointed, dropout=0.0):
    chunk = chunk_loss(lstm, readout, dropout)
    if checkpointed:
        chunk = mg.checkpoint(chunk)
    state = (mg.zeros(x.shape[1], 4, dtype=np.float64),) * 2
    total = 0.0
    for start in range(0, x.shape[0], size):
        state, loss = chunk(x[start:start + size], y[start:start + size], state)
        total = total + loss
    return total


@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_checkpointed_chunks_give_the_plain_values_gradients_and_random_draws(dropout):
    lstm, readout, x, y = lstm_setup()
    params = list(lstm.parameters()) + list(readout.parameters())
    results = []
    for checkpointed in (False, True):
        mg.manual_seed(7)
        x.requires_grad_(True)
        total = run(lstm, readout, x, y, 5, checkpointed, dropout)
        grads = mg.grad(total, params + [x])
        after = mg.rand_like(x).data  # the generator is where f's draws left it, backward or not
        results.append((total.item(), grads, after))
        x.requires_grad_(False)
    (plain, plain_grads, plain_after), (ck, ck_grads, ck_after) = results
    assert plain == ck
    for a, b in zip(plain_grads, ck_grads):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(plain_after, ck_after)


@pytest.mark.parametrize("closes_over_a_dual", [False, True])
def test_the_recomputation_leaves_the_generator_other_threads_draw_from_alone(closes_over_a_dual):
    """Another thread drawing while f is run again (for the backward, or in
    forward mode) gets the draws that follow, as if f had not been run again.
    The rerun set the shared generator back to where f's first run started:
    the other thread drew f's dropout mask again, and f another mask (the
    backward then raised, blaming f; forward mode used it without a word)."""
    other = {}

    def f(a, scale):
        calls.append(1)
        if len(calls) == 2:  # run again: another thread draws meanwhile
            thread = threading.Thread(target=lambda: other.setdefault("draw", mg.rand(6).data))
            thread.start()
            thread.join()
        return F.dropout(a * scale, 0.5).sum()

    draws = []
    for checkpointed in (False, True):
        calls = [] if checkpointed else [1, 1]  # (without checkpoint f runs once: the other thread draws after it)
        mg.manual_seed(3)
        a = mg.ones(6, dtype=np.float64, requires_grad=True)
        if not checkpointed:
            f(a, 2.0)
            after = mg.rand(6).data
            draws.append((after, mg.rand(6).data, mg.rand(6).data))
        elif closes_over_a_dual:
            mg.jvp(lambda s: mg.checkpoint(lambda t: f(t, s))(a), (mg.tensor(2.0, dtype=np.float64),),
                   (mg.tensor(1.0, dtype=np.float64),))
            draws.append((other["draw"], mg.rand(6).data, mg.rand(6).data))
        else:
            loss = mg.checkpoint(f)(a, 2.0)
            after = mg.rand(6).data
            loss.backward()
            draws.append((after, other["draw"], mg.rand(6).data))
    for plain, checkpointed in zip(*draws):
        np.testing.assert_array_equal(plain, checkpointed)


def test_f_that_seeds_the_generator_itself_is_recomputed_with_its_own_draws():
    """f calling mg.manual_seed(3) before its dropout: the recomputation
    reseeded the global generator but drew from the replay copy, so its mask
    differed and the backward raised "f computed output 0 differently"; now
    the seed reseeds the copy, and the global generator stays where the
    forward and the draws since left it."""
    def f(a):
        mg.manual_seed(3)
        return F.dropout(a, 0.5) * 2.0

    draws = []
    for checkpointed in (False, True):
        mg.manual_seed(0)
        a = mg.ones(8, dtype=np.float64, requires_grad=True)
        loss = (mg.checkpoint(f) if checkpointed else f)(a).sum()
        first = mg.rand(4).data
        loss.backward()
        draws.append((a.grad.data, first, mg.rand(4).data))
    mask = np.random.default_rng(3).random(8) >= 0.5  # (dropout keeps where a uniform draw is >= p)
    np.testing.assert_array_equal(draws[0][0], mask * 4.0)  # d(sum 2 * a * mask / 0.5)/da, by hand
    for plain, checkpointed in zip(*draws):
        np.testing.assert_array_equal(plain, checkpointed)


def test_arguments_in_structures_interior_arguments_and_constants():
    w = mg.tensor(np.array([0.5, -1.0]), requires_grad=True)
    a = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    scale = mg.tensor(np.array(3.0))  # needs no gradient

    def f(pair, settings, scale):
        u, v = pair
        return {"sum": (u * v * w).sum() * scale, "ids": mg.argmax(u)}, settings["power"]

    interior = a * 2
    out, power = mg.checkpoint(f)((interior, a), {"power": 2}, scale)
    assert power == 2 and out["ids"].item() == 1 and not out["ids"].requires_grad
    ga, gw = mg.grad(out["sum"] ** 2, [a, w])
    expected = mg.grad(f((a * 2, a), {"power": 2}, scale)[0]["sum"] ** 2, [a, w])
    np.testing.assert_allclose(ga.data, expected[0].data)
    np.testing.assert_allclose(gw.data, expected[1].data)


Pair = namedtuple("Pair", "a b", defaults=(None,))
Single = namedtuple("Single", "a")


def test_namedtuples_in_the_arguments_and_the_output_keep_their_structure():
    """(The arguments became Pair(a=<generator>, b=None), the output Single(a=[tensor]).)"""
    x = mg.tensor(np.array([0.5, -1.0]), requires_grad=True)
    f = lambda pair, single: Pair(pair.a * pair.b, Single(mg.exp(single.a).sum()))
    args = lambda: (Pair(x * 2, x), Single(x))
    plain, checkpointed = f(*args()), mg.checkpoint(f)(*args())
    assert type(checkpointed) is Pair and type(checkpointed.b) is Single
    np.testing.assert_array_equal(checkpointed.a.data, plain.a.data)
    np.testing.assert_array_equal(checkpointed.b.a.data, plain.b.a.data)
    grads = [mg.grad((out.a.sum() + out.b.a) ** 2, [x])[0].data for out in (plain, checkpointed)]
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-14)


def test_the_same_tensor_passed_twice():
    """(It raised 'returned 1 gradient(s) for 2 input(s)' at the backward.)"""
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (gx,) = mg.grad(mg.checkpoint(lambda a, b: (a * b * a).sum())(x, x), [x])
    np.testing.assert_allclose(gx.data, 3 * x.data ** 2)


def test_nested_checkpoints_and_a_second_backward():
    w = mg.tensor(np.array([0.3, 0.7]), requires_grad=True)
    inner = mg.checkpoint(lambda t: mg.tanh(t * w))
    outer = mg.checkpoint(lambda t: inner(inner(t)).sum())
    x = mg.tensor(np.array([1.0, -2.0]))
    loss = outer(x)
    loss.backward(retain_graph=True)
    first = w.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(w.grad.data, 2 * first)
    w.grad = None
    mg.tanh(mg.tanh(x * w) * w).sum().backward()
    np.testing.assert_allclose(first, w.grad.data, rtol=1e-14)


def test_without_a_tape_it_just_runs_f():
    w = mg.tensor(np.array([0.3, 0.7]), requires_grad=True)
    f = mg.checkpoint(lambda t: mg.exp(t * w).sum())
    with mg.no_grad():
        assert not f(mg.tensor(np.ones(2))).requires_grad
    x = mg.tensor(np.array([0.1, 0.2]))
    _, tangent = mg.jvp(f, (x,), (mg.tensor(np.array([1.0, 0.0])),))
    np.testing.assert_allclose(tangent.item(), 0.3 * np.exp(0.03))
    np.testing.assert_allclose(mg.hessian(f)(x).data, np.diag(w.data ** 2 * np.exp(x.data * w.data)))
    # a dual closed over (and the arguments plain): f runs as it is, drawing what it would draw alone
    noisy = lambda t, scale: (t * scale * mg.rand_like(t)).sum()
    outputs = []
    for wrap in (lambda g: g, mg.checkpoint):
        mg.manual_seed(5)
        closing = lambda s: wrap(lambda t: noisy(t, s))(x.requires_grad_(True))  # (an argument that needs grad)
        outputs.append(mg.jvp(closing, (mg.tensor(np.array(2.0)),), (mg.tensor(np.array(1.0)),)))
        x.requires_grad_(False)
    assert [o.item() for o in outputs[0]] == [o.item() for o in outputs[1]]


def test_what_checkpoint_cannot_do_is_an_error():
    w = mg.tensor(np.array([0.3, 0.7]), requires_grad=True)
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    computed = w * 2
    with pytest.raises(ValueError, match="f uses a tensor computed outside it that requires grad \\(made by 'mul'\\)"):
        mg.checkpoint(lambda t: t * computed)(x)
    (g,) = mg.grad(mg.checkpoint(lambda t, c: t * c)(x, computed).sum(), w)  # as an argument it is fine
    np.testing.assert_allclose(g.data, 2 * x.data)
    with pytest.raises(RuntimeError, match="gradients of gradients"):
        mg.grad(mg.checkpoint(lambda t: (t * w).sum() ** 2)(x), x, create_graph=True)
    own = np.random.default_rng(0)
    noisy = mg.checkpoint(lambda t: (t * mg.rand_like(t, rng=own)).sum())
    with pytest.raises(RuntimeError, match="computed output 0 differently when run again"):
        noisy(x).backward()
    out = mg.checkpoint(lambda t: (t * w).sum())(x)
    with mg.no_grad():
        w -= 0.1  # an optimiser step between forward and backward
    with pytest.raises(RuntimeError, match="changed in place"):
        out.backward()
    with pytest.raises(TypeError, match="f must be callable"):
        mg.checkpoint(3)


@pytest.mark.parametrize("victim", [None, "c", "pair", "closed", "hidden", "steps"])
@pytest.mark.parametrize("nested", [False, True])
@given(seed=st.integers(0, 2 ** 16))
def test_a_tensor_f_read_changed_in_place_before_the_backward_is_named_not_used(victim, nested, seed):
    """Every tensor f reads -- an argument that needs no gradient (also inside
    a structure), one it closes over, read by a recorded op, by one that
    records nothing, or by a scan -- changed in place between forward and
    backward makes the backward raise naming it (the recomputation would read
    the new value: with a = 0 the outputs come out the same, and the gradient
    was silently the new one's). Unchanged, the gradient is f's own."""
    rng = np.random.default_rng(seed)
    c, scale, closed, hidden = (mg.tensor(rng.standard_normal(3)) for _ in range(4))
    steps = mg.tensor(rng.standard_normal((4, 3)))

    def f(a, c, pair):
        _, ys = mg.scan(lambda h, x_t: (h + x_t, h * x_t), mg.zeros(3, dtype=np.float64), steps)
        return (a * c * pair["scale"] * closed).sum() + (a * (hidden * 2)).sum() + (a * ys.sum(axis=0)).sum()

    inner = mg.checkpoint(f)
    ck = mg.checkpoint(lambda a, c, pair: inner(a, c, pair) * 1.0) if nested else inner
    a = mg.tensor(np.zeros(3), requires_grad=True)
    out = ck(a, c, {"scale": scale})
    expected = mg.grad(f(a, c, {"scale": scale}), [a])[0].data
    if victim is None:
        out.backward()
        np.testing.assert_allclose(a.grad.data, expected, rtol=1e-14)
        return
    with mg.no_grad():
        {"c": c, "pair": scale, "closed": closed, "hidden": hidden, "steps": steps}[victim] += 1.0
    what = {"c": "its argument 1", "pair": "its argument 2"}.get(victim, "a tensor f closes over")
    name = "<lambda>" if nested else "f"
    with pytest.raises(RuntimeError, match=f"'checkpoint of {name}': {what} .*changed in place"):
        out.backward()


@pytest.mark.parametrize("calls, backwards", [(2, 1), (1, 2)])
def test_a_tensor_f_changes_itself_is_its_own_state_not_an_outside_change(calls, backwards):
    """A running statistic f reads and updates under no_grad (as BatchNorm
    does) is f's own state: its updates by a second call of f before the
    backward, or by the recomputation of a first of two backwards, are not
    outside changes (they raised 'changed in place'); the gradients are f's.
    A tensor f only reads is still watched."""
    running = mg.tensor(np.zeros(3))
    scale = mg.tensor(np.array(2.0))

    def f(x):
        mean = x.mean(axis=0)
        with mg.no_grad():
            running.copy_(0.9 * running + 0.1 * mean)
        return (((x - mean) * scale) ** 2).sum()

    rng = np.random.default_rng(0)
    xs = [mg.tensor(rng.standard_normal((4, 3)), requires_grad=True) for _ in range(calls)]
    grads = []
    for g in (f, mg.checkpoint(f)):
        loss = sum(g(x) for x in xs)
        for k in range(backwards):
            loss.backward(retain_graph=k + 1 < backwards)
        grads.append([x.grad.data for x in xs])
        for x in xs:
            x.grad = None
    for plain, ck in zip(*grads):
        np.testing.assert_allclose(ck, plain, rtol=1e-14)
    out = mg.checkpoint(f)(xs[0])
    with mg.no_grad():
        scale += 1.0
    with pytest.raises(RuntimeError, match="'checkpoint of f': a tensor f closes over .*changed in place"):
        out.backward()


def peak_bytes(fn) -> int:
    """Peak traced memory of a third call of fn: what a call holds, without one-time costs (a kept
    scan program is traced at its first run, and its code, written out at the second, takes ~0.5 MB
    while Python compiles it)."""
    fn()
    fn()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_grows_like_the_square_root_of_the_length():
    """Four times the steps: the plain backward holds about four times as much, the checkpointed one about twice."""
    peaks = {}
    for steps in (400, 1600):
        lstm, readout, x, y = lstm_setup(steps=steps, batch=4)
        for checkpointed in (False, True):
            size = int(round(np.sqrt(steps)))
            peaks[steps, checkpointed] = peak_bytes(lambda: run(lstm, readout, x, y, size if checkpointed else steps,
                                                                checkpointed).backward())
    plain, ck = peaks[1600, False] / peaks[400, False], peaks[1600, True] / peaks[400, True]
    assert 3.0 < plain < 5.0 and 1.3 < ck < 2.7, peaks
    assert peaks[1600, True] < peaks[1600, False] / 4


def test_a_tensor_f_reads_with_grad_mode_on_and_then_changes_raises_when_f_returns():
    """f computes its output from lam (an annealed gradient scale: value x,
    gradient -lam), then advances lam: the recomputation would read the new lam
    and give its gradient (-2 instead of -1) with outputs bit for bit equal."""
    lam = mg.tensor(np.array(1.0))

    def f(x):
        y = x * (-lam) + (x - x * (-lam)).detach()
        with mg.no_grad():
            lam.copy_(lam + 1.0)
        return y

    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="read a tensor of shape \\(\\) with grad mode on and then changed it"):
        mg.checkpoint(f)(x)


@pytest.mark.parametrize("f", [lambda a, w: (a, w), lambda a, w: (a.reshape(3), w.reshape(3)),
                               lambda a, w: (a[:], w[:])], ids=["identity", "reshape", "slice"])
@pytest.mark.parametrize("changed", ["data", "grad_arg"])
def test_an_output_aliasing_an_argument_shares_its_version_as_without_checkpoint(f, changed):
    """f's output that is (a view of) its argument was returned with a version
    counter of its own: an in-place change of the argument before the backward
    went unseen by what saved the output, and v.grad used the new values.
    (Detached, so that the check of the checkpoint's own node cannot catch it.)"""
    x = mg.tensor([1.0, 2.0, 3.0])  # no grad
    w = mg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    v = mg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    for run in (f, mg.checkpoint(f)):
        a, b = run(x, w)
        y = (v * (a if changed == "data" else b).detach()).sum()
        with mg.no_grad():
            (x if changed == "data" else w).__iadd__(1.0)
        with pytest.raises(RuntimeError, match="changed in place"):
            y.backward()


@pytest.mark.parametrize("second", ["no_grad", "detached", "constant", "integer"])
def test_an_output_f_gives_without_grad_comes_back_without_grad(second):
    """Only what f's own outputs require grad for does: one computed under no_grad, detached,
    from constants or of integers is a plain tensor, as f alone gives it (it came back
    requiring grad, and its backward gave zeros where f alone raises)."""
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    def f(x):
        if second == "no_grad":
            with mg.no_grad():
                other = x * w
        elif second == "detached":
            other = (x * w).detach()
        elif second == "constant":
            other = mg.tensor([3.0, 4.0]) * 2
        else:
            other = mg.tensor([3, 4])
        return x * w, other

    x = mg.tensor([0.5, -1.0], requires_grad=True)
    plain, checkpointed = f(x), mg.checkpoint(f)(x)
    assert [o.requires_grad for o in checkpointed] == [o.requires_grad for o in plain] == [True, False]
    np.testing.assert_array_equal(checkpointed[1].data, plain[1].data)
    with pytest.raises(RuntimeError):
        checkpointed[1].sum().backward()
    checkpointed[0].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0])
    np.testing.assert_array_equal(w.grad.data, [0.5, -1.0])
