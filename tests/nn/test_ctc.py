"""CTC: SPEC's exact values, brute force over every path, exact gradients, decoding, bad input."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from nn.ctc import CTCLoss, ctc_loss, greedy_decode, prefix_beam_search


def uniform(T, C=3):
    return mg.tensor(np.log(np.full((T, 1, C), 1 / C)))


@pytest.mark.parametrize("T,target,expected", [
    (3, [1, 2], np.log(27 / 5)), (3, [1, 1], np.log(27)), (2, [1, 1], np.inf), (3, [], 3 * np.log(3)),
    (4, [1, 1, 2], np.log(81)),
])
def test_spec_exact_values(T, target, expected):
    loss = ctc_loss(uniform(T), np.array([target]).reshape(1, -1), [T], [len(target)], reduction="none")
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def collapse(path, blank):
    out = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return [k for k in out if k != blank]


def brute_force_log_p(lp, target, blank):
    """ln Σ over every path that collapses to ``target`` of Π y_t(π_t), for one sequence (T, C)."""
    T, C = lp.shape
    total = -np.inf
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == list(target):
            total = np.logaddexp(total, lp[np.arange(T), path].sum())
    return total


@st.composite
def problems(draw, max_T=6, max_C=4):
    T, C = draw(st.integers(1, max_T)), draw(st.integers(2, max_C))
    blank = draw(st.integers(0, C - 1))
    labels = [k for k in range(C) if k != blank]
    target = draw(st.lists(st.sampled_from(labels), max_size=T))
    lp = draw(st.integers(0, 10_000)).__index__()
    scores = np.random.default_rng(lp).standard_normal((T, C)) * 2  # unnormalised on purpose
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


def test_zero_infinity_zeroes_only_impossible_samples():
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((3, 2, 3))
    targets, frames, lengths = np.array([[1, 1], [1, 2]]), [2, 3], [2, 2]  # sample 0 needs 3 frames
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
    plain = ctc_loss(mg.tensor(scores), targets, frames, lengths, reduction="none")
    assert np.isinf(plain.data[0])


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
    (lambda lp: ctc_loss(lp, [[1, 0]], [4, 4], [2, 1]), ValueError, "one entry per sequence"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], blank=2), ValueError, "targets contain the blank class 2"),
    (lambda lp: ctc_loss(lp, [[1, 3]], [4], [2]), ValueError, r"labels must lie in \[0, 3\)"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [5], [2]), ValueError, r"input_lengths must lie in 1..4"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [0], [2]), ValueError, r"input_lengths must lie in 1..4"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [3]), ValueError, "only 2 columns"),
    (lambda lp: ctc_loss(lp, [1, 2, 1], [4], [2]), ValueError, "hold 3 labels but target_lengths add up to 2"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4.0], [2]), TypeError, "input_lengths must hold integers"),
    (lambda lp: ctc_loss(lp[:, 0], [[1, 2]], [4], [2]), ValueError, r"log_probs must be \(T, B, C\)"),
    (lambda lp: ctc_loss(lp, [[1, 2]], [4], [2], reduction="avg"), ValueError, "reduction"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call(uniform(4))
