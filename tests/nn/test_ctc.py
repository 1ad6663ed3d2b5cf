"""CTC: SPEC's exact values, brute force over every path (loss and gradient, batched, every scale),
impossible alignments, PyTorch's edge cases (unbatched, zero-length input), decoding, bad input."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from nn.ctc import CTCLoss, ctc_loss, greedy_decode, prefix_beam_search


def uniform(T, C=3, requires_grad=False):
    return mg.tensor(np.log(np.full((T, 1, C), 1 / C)), requires_grad=requires_grad)


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("T,target,expected", [
    (3, [1, 2], np.log(27 / 5)), (3, [1, 1], np.log(27)), (2, [1, 1], np.inf), (3, [], 3 * np.log(3)),
    (4, [1, 1, 2], np.log(81)),
])
def test_spec_exact_values(T, target, expected, requires_grad):
    loss = ctc_loss(uniform(T, requires_grad=requires_grad), np.array([target]).reshape(1, -1), [T], [len(target)],
                    reduction="none")
    assert loss.item() == pytest.approx(expected, rel=1e-12)


# -- brute force: every path ------------------------------------------------------------------------

def collapse(path, blank):
    out = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return [k for k in out if k != blank]


def brute_force(lp, target, blank):
    """ln p(target) = ln Σ over every path that collapses to it of Π y_t(π_t), and the gradient of −ln p
    w.r.t. lp (T, C): minus each path's share of p, summed onto the (t, π_t) it uses. Float64."""
    lp = np.asarray(lp, dtype=np.float64)
    T, C = lp.shape
    paths = [p for p in itertools.product(range(C), repeat=T) if collapse(p, blank) == list(target)]
    if not paths:
        return -np.inf, np.full((T, C), np.nan)
    scores = np.array([lp[np.arange(T), p].sum() for p in paths])
    log_p = np.logaddexp.reduce(scores)
    grad = np.zeros((T, C))
    for p, share in zip(paths, np.exp(scores - log_p)):
        grad[np.arange(T), p] -= share
    return log_p, grad


def brute_force_log_p(lp, target, blank):
    return brute_force(lp, target, blank)[0]


@st.composite
def problems(draw, max_T=6, max_C=4):
    T, C = draw(st.integers(1, max_T)), draw(st.integers(2, max_C))
    blank = draw(st.integers(0, C - 1))
    labels = [k for k in range(C) if k != blank]
    target = draw(st.lists(st.sampled_from(labels), max_size=T))
    seed = draw(st.integers(0, 10_000))
    scores = np.random.default_rng(seed).standard_normal((T, C)) * 2  # unnormalised on purpose
    return scores, target, blank


@settings(max_examples=25, deadline=None)
@given(problems())
def test_equals_brute_force_over_all_paths(problem):
    scores, target, blank = problem
    T = scores.shape[0]
    loss = ctc_loss(mg.tensor(scores[:, None]), np.array([target], dtype=int).reshape(1, -1), [T], [len(target)],
                    blank=blank, reduction="none").item()
    expected = -brute_force_log_p(scores, target, blank)
    if np.isinf(expected):
        assert np.isinf(loss)
    else:
        assert loss == pytest.approx(expected, rel=1e-10, abs=1e-10)


@st.composite
def batches(draw):
    """A batch of 1-3 sequences with their own frame counts (0 included) and targets (empty, repeated
    labels and too long to fit included), scores at some scale, padded or concatenated targets."""
    B, T, C = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    blank = draw(st.integers(0, C - 1))
    labels = [k for k in range(C) if k != blank]
    input_lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    targets = draw(st.lists(st.lists(st.sampled_from(labels), max_size=4), min_size=B, max_size=B))
    scale = draw(st.sampled_from([0.5, 3.0]))
    normalise = draw(st.booleans())
    scores = np.random.default_rng(draw(st.integers(0, 10_000))).standard_normal((T, B, C)) * scale
    if normalise:
        scores -= np.logaddexp.reduce(scores, axis=2, keepdims=True)
    return scores, targets, input_lengths, blank, draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from([np.float64, np.float32]))
def test_batched_loss_and_gradient_equal_brute_force_per_sample(batch, dtype):
    scores, targets, input_lengths, blank, concatenated = batch
    T, B, C = scores.shape
    target_lengths = [len(t) for t in targets]
    if concatenated:
        flat_targets = np.array([k for t in targets for k in t], dtype=int)
    else:
        flat_targets = np.full((B, max(target_lengths)), blank, dtype=int)  # padded with a valid class
        for b, t in enumerate(targets):
            flat_targets[b, :len(t)] = t
    x = mg.tensor(scores.astype(dtype), requires_grad=True)
    losses = ctc_loss(x, flat_targets, input_lengths, target_lengths, blank=blank, reduction="none")
    losses.sum().backward()
    assert losses.dtype == dtype and x.grad.dtype == dtype
    tol = dict(rel=1e-10, abs=1e-10) if dtype == np.float64 else dict(rel=1e-5, abs=1e-5)
    for b in range(B):
        T_b = input_lengths[b]
        log_p, grad = brute_force(scores.astype(dtype)[:T_b, b], targets[b], blank)
        if T_b == 0:
            log_p = 0.0 if not targets[b] else -np.inf
        assert np.all(x.grad.data[T_b:, b] == 0)  # frames past the sequence's end
        if np.isinf(log_p):
            assert np.isinf(losses.data[b])
            assert np.isnan(x.grad.data[:T_b, b]).all()
        else:
            assert losses.data[b] == pytest.approx(-log_p, **tol)
            np.testing.assert_allclose(x.grad.data[:T_b, b], grad, rtol=0, atol=tol["abs"] * 10)


@pytest.mark.parametrize("scale", [1, 30, 300, 1e4])
@pytest.mark.parametrize("normalise", [True, False])
def test_extreme_logits_equal_brute_force(scale, normalise):
    """exp(α + β − per-frame max) used to underflow: at ×300 the gradient was lost entirely (error 1.0)."""
    rng = np.random.default_rng(int(scale))
    T, C, target = 6, 4, [1, 3, 3]
    scores = rng.standard_normal((T, 2, C)) * scale
    if normalise:
        scores -= np.logaddexp.reduce(scores, axis=2, keepdims=True)
    x = mg.tensor(scores, requires_grad=True)
    losses = ctc_loss(x, [target, target[:2] + [0]], [T, T - 1], [3, 2], reduction="none")
    losses.sum().backward()
    for b, (T_b, tgt) in enumerate([(T, target), (T - 1, target[:2])]):
        log_p, grad = brute_force(scores[:T_b, b], tgt, 0)
        assert losses.data[b] == pytest.approx(-log_p, rel=1e-12)
        np.testing.assert_allclose(x.grad.data[:T_b, b], grad, rtol=0, atol=1e-9)
        assert np.abs(x.grad.data[:T_b, b]).sum(axis=1) == pytest.approx(np.abs(grad).sum(axis=1), rel=1e-9)


@pytest.mark.parametrize("scale", [1, 30, 300])
def test_float32_at_large_scales_is_float32_accurate(scale):
    rng = np.random.default_rng(7)
    scores = (rng.standard_normal((6, 1, 4)) * scale).astype(np.float32)
    x = mg.tensor(scores, requires_grad=True)
    ctc_loss(x, [[1, 2]], [6], [2], reduction="sum").backward()
    log_p, grad = brute_force(scores[:, 0], [1, 2], 0)
    np.testing.assert_allclose(x.grad.data[:, 0], grad, rtol=0, atol=1e-5 * scale)


def test_long_sequence_equals_plain_recursion_in_float64_and_float32():
    """T = 300: the plain α/β recursion (per sample, vectorised over s) against the kernel; float32 keeps
    its precision because the lattice rows are re-centred (the values would otherwise grow like t·ln C)."""
    from benchmarks.ctc import reference

    rng = np.random.default_rng(8)
    T, B, C, S = 300, 3, 20, 40
    scores = rng.standard_normal((T, B, C))
    lp = scores - np.logaddexp.reduce(scores, axis=2, keepdims=True)
    targets, lengths = rng.integers(1, C, size=(B, S)), np.array([S, 25, 1])
    expected_losses, expected_grad = reference(lp, targets, lengths)
    for dtype, rtol, atol in ((np.float64, 1e-12, 1e-11), (np.float32, 1e-6, 1e-4)):
        x = mg.tensor(lp.astype(dtype), requires_grad=True)
        losses = ctc_loss(x, targets, [T] * B, lengths, reduction="none")
        losses.sum().backward()
        np.testing.assert_allclose(losses.data, expected_losses, rtol=rtol)
        np.testing.assert_allclose(x.grad.data, expected_grad, rtol=0, atol=atol)


@settings(max_examples=10, deadline=None)
@given(problems(max_T=5), st.sampled_from(["none", "sum", "mean"]))
def test_gradcheck_on_unnormalised_log_probs(problem, reduction):
    scores, target, blank = problem
    T = scores.shape[0]
    if len(target) + sum(a == b for a, b in zip(target, target[1:])) > T:
        return  # impossible alignment: no gradient to check
    x = mg.tensor(scores[:, None], requires_grad=True)
    tgt = np.array([target], dtype=int).reshape(1, -1)
    assert mg.gradcheck(lambda x: ctc_loss(x, tgt, [T], [len(target)], blank=blank, reduction=reduction), [x])


def test_gradcheck_through_log_softmax_with_padding_and_lengths():
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((6, 3, 4)), requires_grad=True)
    targets = np.array([[1, 2, 2], [3, 0, 0], [1, 3, 0]])
    assert mg.gradcheck(lambda x: ctc_loss(mg.log_softmax(x, axis=-1), targets, [6, 4, 5], [3, 1, 2]), [x])


def test_batched_equals_per_sample_and_padded_equals_concatenated():
    rng = np.random.default_rng(2)
    lp = mg.log_softmax(mg.tensor(rng.standard_normal((7, 3, 5))), axis=-1)
    padded = np.array([[1, 2, 2, 4], [3, 0, 0, 0], [4, 4, 1, 0]])
    lengths, frames = np.array([4, 1, 3]), np.array([7, 5, 6])
    batched = ctc_loss(lp, padded, frames, lengths, reduction="none").data
    concatenated = ctc_loss(lp, np.concatenate([padded[b, :n] for b, n in enumerate(lengths)]), frames, lengths,
                            reduction="none").data
    np.testing.assert_array_equal(batched, concatenated)
    for b in range(3):
        alone = ctc_loss(lp[:, b:b + 1], padded[b:b + 1, :lengths[b]], frames[b:b + 1], lengths[b:b + 1],
                         reduction="none")
        assert alone.item() == pytest.approx(batched[b], rel=1e-6)
    mean = ctc_loss(lp, padded, frames, lengths).item()
    assert mean == pytest.approx(np.mean(batched / np.maximum(lengths, 1)), rel=1e-6)


def test_loss_without_gradient_is_the_loss_with_it():
    rng = np.random.default_rng(9)
    scores = rng.standard_normal((9, 4, 5))
    args = ([[1, 2, 2], [3, 4, 0], [1, 1, 1], [2, 0, 0]], [9, 7, 8, 2], [3, 2, 3, 1])
    with_grad = ctc_loss(mg.tensor(scores, requires_grad=True), *args, reduction="none").data
    without = ctc_loss(mg.tensor(scores), *args, reduction="none").data
    with mg.no_grad():
        under_no_grad = ctc_loss(mg.tensor(scores, requires_grad=True), *args, reduction="none").data
    np.testing.assert_array_equal(with_grad, without)
    np.testing.assert_array_equal(with_grad, under_no_grad)


def test_padded_frames_are_ignored_whatever_they_hold():
    rng = np.random.default_rng(10)
    clean = rng.standard_normal((6, 2, 4))
    dirty = clean.copy()
    dirty[4:, 0] = np.nan
    dirty[3:, 1] = [np.inf, -np.inf, 1e300, 0]
    results = []
    for scores in (clean, dirty):
        x = mg.tensor(scores, requires_grad=True)
        losses = ctc_loss(x, [[1, 2], [3, 0]], [4, 3], [2, 1], reduction="none")
        losses.sum().backward()
        results.append((losses.data, x.grad.data))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert np.all(results[1][1][4:, 0] == 0) and np.all(results[1][1][3:, 1] == 0)


def test_minus_inf_log_probs_are_impossible_emissions():
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((5, 2, 4))
    scores[:, :, 3] = -np.inf  # class 3 can never be emitted
    scores[2, 0, 1] = -np.inf
    x = mg.tensor(scores, requires_grad=True)
    losses = ctc_loss(x, [[1, 2], [3, 0]], [5, 5], [2, 1], reduction="none")
    losses.sum().backward()
    log_p, grad = brute_force(scores[:, 0], [1, 2], 0)
    assert losses.data[0] == pytest.approx(-log_p, rel=1e-12)
    np.testing.assert_allclose(x.grad.data[:, 0], grad, atol=1e-12)  # 0 where log_probs is -inf
    assert np.isinf(losses.data[1]) and np.isnan(x.grad.data[:, 1]).all()


# -- impossible alignments, zero_infinity (issue 13, item 6) --------------------------------------

def impossible_batch():
    """Sample 0 cannot fit [1, 1] into its 2 real frames (of 4); sample 1 is an ordinary one."""
    scores = np.random.default_rng(3).standard_normal((4, 2, 3))
    return scores, np.array([[1, 1], [1, 2]]), [2, 4], [2, 2]


def test_impossible_alignment_gives_inf_and_nan_only_on_its_real_frames():
    scores, targets, frames, lengths = impossible_batch()
    x = mg.tensor(scores, requires_grad=True)
    losses = ctc_loss(x, targets, frames, lengths, reduction="none")
    losses.sum().backward()
    assert np.isinf(losses.data[0]) and np.isfinite(losses.data[1])
    assert np.isnan(x.grad.data[:2, 0]).all()
    assert np.all(x.grad.data[2:, 0] == 0)  # padded frames: the loss does not depend on them
    y = mg.tensor(scores[:, 1:], requires_grad=True)
    ctc_loss(y, targets[1:], frames[1:], lengths[1:], reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.data[:, 1:], y.grad.data)  # the other sample: untouched


@pytest.mark.parametrize("dead,frame", [(0, 15), (1, 0), (1, 8)])
def test_a_sample_dead_from_minus_inf_leaves_its_neighbours_alone(dead, frame):
    """No class at all at one frame makes a sample impossible in its first or last sweep steps; its lattice
    rows then sit at the sentinel. The other samples' gradients must not see it (they once got a -1)."""
    scores = np.random.default_rng(14).standard_normal((20, 3, 4))
    scores[frame, dead] = -np.inf
    targets, frames, lengths = np.full((3, 1), 2), [20, 20, 20], [1, 1, 1]
    x = mg.tensor(scores, requires_grad=True)
    losses = ctc_loss(x, targets, frames, lengths, reduction="none", zero_infinity=True)
    losses.sum().backward()
    alive = [b for b in range(3) if b != dead]
    y = mg.tensor(scores[:, alive], requires_grad=True)
    alone = ctc_loss(y, targets[alive], [20, 20], [1, 1], reduction="none")
    alone.sum().backward()
    assert losses.data[dead] == 0
    np.testing.assert_allclose(losses.data[alive], alone.data, rtol=1e-12)
    np.testing.assert_allclose(x.grad.data[:, alive], y.grad.data, atol=1e-12)


def test_zero_infinity_zeroes_only_impossible_samples():
    scores, targets, frames, lengths = impossible_batch()
    x = mg.tensor(scores, requires_grad=True)
    loss = ctc_loss(x, targets, frames, lengths, reduction="none", zero_infinity=True)
    assert loss.data[0] == 0.0
    loss.sum().backward()
    assert np.all(x.grad.data[:, 0] == 0)
    y = mg.tensor(scores[:, 1:], requires_grad=True)
    alone = ctc_loss(y, targets[1:], frames[1:], lengths[1:], reduction="none")
    alone.sum().backward()
    assert loss.data[1] == pytest.approx(alone.item())
    np.testing.assert_allclose(x.grad.data[:, 1:], y.grad.data)
    mean = ctc_loss(mg.tensor(scores), targets, frames, lengths, zero_infinity=True).item()
    assert mean == pytest.approx(alone.item() / 2 / 2)


# -- PyTorch's edge cases (issue 13) ----------------------------------------------------------------

@pytest.mark.parametrize("lengths", [(5, 2), ([5], [2]), (np.array(5), np.array(2)), (mg.tensor([5]), [2])])
def test_unbatched_log_probs(lengths):
    rng = np.random.default_rng(12)
    scores = rng.standard_normal((5, 3))
    x = mg.tensor(scores, requires_grad=True)
    loss = ctc_loss(x, [1, 2], *lengths, reduction="none")
    assert loss.shape == ()
    loss.backward()
    assert x.grad.shape == (5, 3)
    batched = mg.tensor(scores[:, None], requires_grad=True)
    ctc_loss(batched, [[1, 2]], [5], [2], reduction="sum").backward()
    assert loss.item() == pytest.approx(-brute_force_log_p(scores, [1, 2], 0), rel=1e-12)
    np.testing.assert_array_equal(x.grad.data, batched.grad.data[:, 0])
    assert ctc_loss(x, [1, 2], 5, 2).item() == pytest.approx(loss.item() / 2)  # 'mean': divided by the length
    assert CTCLoss(reduction="sum")(x, [1, 2], 5, 2).item() == loss.item()


def test_zero_length_input():
    x = mg.tensor(np.random.default_rng(13).standard_normal((3, 3, 4)), requires_grad=True)
    losses = ctc_loss(x, [[1], [2], [3]], [0, 0, 3], [0, 1, 1], reduction="none")
    assert losses.data[0] == 0 and np.isinf(losses.data[1]) and np.isfinite(losses.data[2])
    losses[np.array([0, 2])].sum().backward()
    assert np.all(x.grad.data[:, :2] == 0)
    zeroed = ctc_loss(x, [[1], [2], [3]], [0, 0, 3], [0, 1, 1], reduction="none", zero_infinity=True)
    assert zeroed.data[1] == 0
    assert ctc_loss(x[:, 0], [], 0, 0, reduction="none").item() == 0


def test_float32_works_and_agrees_with_float64():
    scores = np.random.default_rng(4).standard_normal((8, 2, 5))
    targets = np.array([[1, 2, 3], [4, 4, 0]])
    x32 = mg.tensor(scores.astype(np.float32), requires_grad=True)
    x64 = mg.tensor(scores, requires_grad=True)
    loss32, loss64 = (ctc_loss(x, targets, [8, 7], [3, 2]) for x in (x32, x64))
    loss32.backward()
    loss64.backward()
    assert loss32.dtype == np.float32 and x32.grad.dtype == np.float32
    assert loss32.item() == pytest.approx(loss64.item(), rel=1e-5)
    np.testing.assert_allclose(x32.grad.data, x64.grad.data, rtol=1e-4, atol=1e-6)


def test_module_form():
    lp = mg.log_softmax(mg.tensor(np.random.default_rng(5).standard_normal((4, 1, 3))), axis=-1)
    assert CTCLoss(reduction="sum")(lp, [[1, 2]], [4], [2]).item() == pytest.approx(
        ctc_loss(lp, [[1, 2]], [4], [2], reduction="sum").item())


# -- decoding -----------------------------------------------------------------------------------

def test_greedy_decode_collapses_repeats_and_respects_lengths():
    best = np.array([[0, 1], [1, 1], [1, 0], [0, 2], [1, 2], [2, 2]])  # (T, B) argmax classes
    lp = np.full((6, 2, 3), -5.0)
    np.put_along_axis(lp, best[..., None], 0.0, axis=2)
    assert greedy_decode(lp) == [[1, 1, 2], [1, 2]]
    assert greedy_decode(lp, input_lengths=[3, 6]) == [[1], [1, 2]]


def labellings_up_to(T, labels):
    for n in range(T + 1):
        yield from itertools.product(labels, repeat=n)


@settings(max_examples=10, deadline=None)
@given(problems(max_T=4, max_C=3))
def test_wide_beam_keeps_every_labelling_with_its_exact_probability(problem):
    scores, _, blank = problem
    T, C = scores.shape
    lp = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)  # normalised: probabilities sum to 1
    beams = dict(prefix_beam_search(lp, beam_width=10_000, blank=blank))
    labels = [k for k in range(C) if k != blank]
    possible = [lab for lab in labellings_up_to(T, labels) if np.isfinite(brute_force_log_p(lp, lab, blank))]
    assert set(beams) == set(possible)
    for labelling, log_p in beams.items():
        expected = -ctc_loss(mg.tensor(lp[:, None]), np.array([labelling], dtype=int).reshape(1, -1), [T],
                             [len(labelling)], blank=blank, reduction="none").item()
        assert log_p == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.logaddexp.reduce(list(beams.values())) == pytest.approx(0.0, abs=1e-9)


def test_beam_of_one_on_peaked_posteriors_equals_greedy():
    rng = np.random.default_rng(6)
    best = rng.integers(0, 4, size=12)
    lp = np.full((12, 4), -8.0)
    lp[np.arange(12), best] = 0.0
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    assert list(prefix_beam_search(lp, beam_width=1)[0][0]) == greedy_decode(lp[:, None])[0]


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call,error,message", [
    (lambda lp: ctc_loss(lp, [[1, 0]], [4, 4], [2, 1]), ValueError, "one length per sequence"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], blank=2), ValueError, "targets contain the blank class 2"),
    (lambda lp: ctc_loss(lp, [[1, 3]], [4], [2]), ValueError, r"labels must lie in \[0, 3\)"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [5], [2]), ValueError, r"input_lengths must lie in 0..4"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [-1], [2]), ValueError, r"input_lengths must lie in 0..4"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [3]), ValueError, "only 2 columns"),
    (lambda lp: ctc_loss(lp, [1, 2, 1], [4], [2]), ValueError, "hold 3 labels but target_lengths add up to 2"),
    (lambda lp: ctc_loss(lp[:, 0], [1, 2, 1], 4, 2), ValueError, "hold 3 labels but target_lengths add up to 2"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4.0], [2]), TypeError, "input_lengths must hold integers"),
    (lambda lp: ctc_loss(lp[None], [[1, 2]], [4], [2]), ValueError, r"log_probs must be \(T, B, C\) or unbatched"),
    (lambda lp: ctc_loss(lp[:0], [[1, 2]], [0], [2]), ValueError, "no empty axis"),
    (lambda lp: ctc_loss(mg.tensor(np.zeros((4, 1, 3), dtype=int)), [[1, 2]], [4], [2]), TypeError,
     "log_probs must be floating point"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], reduction="avg"), ValueError, "reduction must be one of"),
    (lambda lp: ctc_loss(lp, [[2, 1]], [4], [2], blank=2.5), TypeError, "ctc_loss: blank must be an int, got float"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], blank=True), TypeError, "ctc_loss: blank must be an int, got bool"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], blank=3), ValueError, r"ctc_loss: blank must lie in \[0, 3\), got 3"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], blank=-1), ValueError, r"blank must lie in \[0, 3\), got -1"),
    (lambda lp: ctc_loss(lp + mg.tensor(np.where(np.arange(3) == 1, np.inf, 0)), [[1, 2]], [4], [2]), ValueError,
     "log_probs must be finite or -inf"),
    (lambda lp: ctc_loss(mg.tensor(np.full((4, 1, 3), -1e36, dtype=np.float32)), [[1, 2]], [4], [2]), ValueError,
     "log_probs must be finite or -inf"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call(uniform(4))


def test_blank_takes_numpy_ints_and_the_module_checks_reduction_when_made():
    lp = uniform(4)
    assert ctc_loss(lp, [[1, 2]], [4], [2], blank=np.int64(0)).item() == ctc_loss(lp, [[1, 2]], [4], [2]).item()
    with pytest.raises(ValueError, match="reduction must be one of"):
        CTCLoss(reduction="avg")


def test_nan_in_one_sample_gives_nan_for_that_sample_only():
    scores = np.random.default_rng(14).standard_normal((4, 2, 3))
    scores[1, 0, 2] = np.nan
    x = mg.tensor(scores, requires_grad=True)
    losses = ctc_loss(x, [[1, 2], [2, 1]], [4, 4], [2, 2], reduction="none")
    losses.sum().backward()
    assert np.isnan(losses.data[0]) and np.isfinite(losses.data[1])
    assert np.isfinite(x.grad.data[:, 1]).all()


def test_nan_that_no_path_reads_changes_nothing():
    """A NaN in a class a sample's lattice never reads (not blank, not one of its labels) or in a
    frame past its length leaves its loss and gradient as they were; the NaN sample's neighbours
    in the lattice (the rows before and after it) stay finite."""
    scores = np.random.default_rng(15).standard_normal((5, 3, 5))
    targets, input_lengths, target_lengths = [[1, 2], [2, 1], [3, 3]], [5, 4, 5], [2, 2, 2]
    clean = mg.tensor(scores.copy(), requires_grad=True)
    ctc_loss(clean, targets, input_lengths, target_lengths, reduction="sum").backward()
    scores[1, 0, 4] = np.nan  # class 4: not read by sample 0
    scores[4, 1, 2] = np.nan  # frame 4 is past sample 1's length
    scores[2, 2, 0] = np.nan  # the blank of sample 2: read
    x = mg.tensor(scores, requires_grad=True)
    losses = ctc_loss(x, targets, input_lengths, target_lengths, reduction="none")
    losses[np.array([0, 1])].sum().backward()
    expected = ctc_loss(mg.tensor(clean.data), targets, input_lengths, target_lengths, reduction="none").data
    np.testing.assert_allclose(losses.data[:2], expected[:2], rtol=1e-12)
    assert np.isnan(losses.data[2])
    np.testing.assert_allclose(x.grad.data[:, :2], clean.grad.data[:, :2], rtol=1e-10, atol=1e-14)


def test_ctc_has_no_second_derivative_and_says_so():
    log_probs = mg.log_softmax(mg.tensor(np.random.default_rng(0).standard_normal((4, 1, 3)), requires_grad=True), -1)
    loss = ctc_loss(log_probs, [[1]], [4], [1])
    with pytest.raises(RuntimeError, match="_CTC is once_differentiable"):
        mg.grad(loss, log_probs, create_graph=True)


@pytest.mark.parametrize("transform", ["jvp", "hvp", "hessian"])
def test_forward_mode_through_ctc_is_an_error_in_ctc_losss_words(transform):
    """mg.jvp, hvp or hessian of a CTC loss said '_CTC has no jvp ...: give
    it a staticmethod jvp(ctx, *tangents)', a private class of the library
    the user is to edit. Now a TypeError naming ctc_loss and what works."""
    scores = mg.tensor(np.random.default_rng(0).standard_normal((4, 1, 3)))

    def f(x):
        return ctc_loss(mg.log_softmax(x, -1), [[1]], [4], [1])

    run = {"jvp": lambda: mg.jvp(f, (scores,), (mg.ones_like(scores),)),
           "hvp": lambda: mg.hvp(f, (scores,), (mg.ones_like(scores),)),
           "hessian": lambda: mg.hessian(f)(scores)}[transform]
    with pytest.raises(TypeError, match=r"^ctc_loss has no forward-mode derivative .*mg\.jvp, jacfwd, hessian and hvp"):
        run()


def test_the_decoders_check_blank_and_beam_width():
    """A float blank (2.5) was truncated and matched no frame; a float beam
    width reached NumPy. Both are named, before any decoding."""
    frames = np.log(np.full((4, 1, 3), 1 / 3))
    for bad in (2.5, True):
        with pytest.raises(TypeError, match="greedy_decode: blank must be an int"):
            greedy_decode(frames, blank=bad)
        with pytest.raises(TypeError, match="prefix_beam_search: blank must be an int"):
            prefix_beam_search(frames[:, 0], 2, blank=bad)
    with pytest.raises(ValueError, match=r"greedy_decode: blank must lie in \[0, 3\), got 3"):
        greedy_decode(frames, blank=3)
    with pytest.raises(ValueError, match="prefix_beam_search: beam_width must be a positive int, got 2.5"):
        prefix_beam_search(frames[:, 0], 2.5)
    assert greedy_decode(frames, blank=np.int64(2)) == [[0]]


def test_the_decoders_on_an_empty_batch_nan_and_float_lengths():
    """An empty batch raised NumPy's 'zero-size array to reduction'; a NaN class won greedy's argmax ([[1]])
    and prefix_beam_search dropped every prefix ([]); float lengths were blamed on ctc_loss (outside audit)."""
    assert greedy_decode(np.zeros((3, 0, 4))) == [] and greedy_decode(np.zeros((3, 0, 4)), []) == []
    scores = np.log(np.full((2, 1, 3), 1 / 3))
    scores[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"greedy_decode: log_probs hold NaN \(at \(0, 0, 1\)\)"):
        greedy_decode(scores)
    with pytest.raises(ValueError, match="prefix_beam_search: log_probs hold NaN"):
        prefix_beam_search(np.full((2, 3), np.nan), 3)
    with pytest.raises(TypeError, match="greedy_decode: input_lengths must hold integers"):
        greedy_decode(np.zeros((3, 2, 4)), [3.0, 1.0])
    padded = np.log(np.full((3, 2, 3), 1 / 3))
    padded[2, 0] = np.nan  # a frame past sample 0's length: ignored, as ctc_loss ignores it (found by review)
    assert greedy_decode(padded, [2, 3]) == greedy_decode(np.nan_to_num(padded), [2, 3])


def test_the_decoders_refuse_plus_inf_log_probs():
    """(prefix_beam_search of frames [inf, 0, -1], [-inf, 0, -2] (blank 0) gave (1,) and (2,) probability inf, (2, 1)
    -1, and no () at all (inf + -inf is NaN); ctc_loss refuses +inf.)"""
    scores = np.array([[np.inf, 0.0, -1.0], [-np.inf, 0.0, -2.0]])
    with pytest.raises(ValueError, match=r"prefix_beam_search: log_probs hold \+inf \(at \(0, 0\)\)"):
        prefix_beam_search(scores, 3)
    with pytest.raises(ValueError, match=r"greedy_decode: log_probs hold \+inf \(at \(0, 0, 0\)\)"):
        greedy_decode(scores[:, None])
    assert greedy_decode(scores[:, None], [0]) == [[]]  # (past a length anything goes, as with NaN)
    finite = np.where(np.isinf(scores), -50.0, scores)  # -inf stays a fine log-probability
    assert [p for p, _ in prefix_beam_search(np.where(scores == np.inf, 0.0, scores), 3)] == \
        [p for p, _ in prefix_beam_search(np.where(scores == np.inf, 0.0, finite), 3)]


def test_the_decoders_refuse_a_frame_where_no_class_is_possible():
    """A frame of −inf for every class makes every labelling impossible (ctc_loss gives inf for each):
    greedy decoding answered [2] (argmax of the other frame, blank 0) and prefix_beam_search []."""
    scores = np.array([np.log([0.1, 0.2, 0.7]), np.full(3, -np.inf)])
    assert ctc_loss(mg.tensor(scores), [2], 2, 1, reduction="none").item() == np.inf
    with pytest.raises(ValueError, match=r"greedy_decode: log_probs are -inf for every class at frame \(1, 0\)"):
        greedy_decode(scores[:, None])
    with pytest.raises(ValueError, match=r"prefix_beam_search: log_probs are -inf for every class at frame \(1,\)"):
        prefix_beam_search(scores, 3)
    assert greedy_decode(scores[:, None], [1]) == [[2]]  # (past the length it is not read)
    assert [p for p, _ in prefix_beam_search(scores[:1], 3)] == [(2,), (1,), ()]


@pytest.mark.parametrize("flag", ["False", None, 0, 1.0])
def test_zero_infinity_must_be_a_bool(flag):
    """zero_infinity="False" was truthy and zeroed an impossible sample's inf loss (a string "False"
    turned it on); None turned it off. Both forms name the argument, as dropout's training does."""
    with pytest.raises(TypeError, match="ctc_loss: zero_infinity must be True or False"):
        ctc_loss(uniform(2), [[1, 1]], [2], [2], zero_infinity=flag)
    with pytest.raises(TypeError, match="CTCLoss: zero_infinity must be True or False"):
        CTCLoss(zero_infinity=flag)
    assert ctc_loss(uniform(2), [[1, 1]], [2], [2], zero_infinity=np.bool_(True)).item() == 0


def test_ragged_targets_are_named():
    """Targets as lists of different lengths raised NumPy's 'inhomogeneous shape', naming neither
    ctc_loss nor targets; the message now says how to give them."""
    with pytest.raises(ValueError, match="ctc_loss: targets must form one array, not lists of different lengths"):
        ctc_loss(mg.tensor(np.log(np.full((4, 2, 3), 1 / 3))), [[1, 2], [1]], [4, 4], [2, 1])


@pytest.mark.parametrize("frames", [np.array([[[1 + 5j, 2, 0]]]), np.array([[["a", "b", "c"]]]), [[[None, 1.0, 0.0]]]])
def test_the_decoders_refuse_log_probs_that_are_not_real_numbers(frames):
    """Complex log_probs lost their imaginary parts with only a ComplexWarning (greedy_decode gave [[1]]
    for 1+5j, 2, 0); strings raised NumPy's 'could not convert string to float'; None was called NaN."""
    with pytest.raises(TypeError, match="greedy_decode: log_probs must hold real numbers, got dtype"):
        greedy_decode(frames)
    with pytest.raises(TypeError, match="prefix_beam_search: log_probs must hold real numbers, got dtype"):
        prefix_beam_search(np.asarray(frames)[:, 0], 2)
