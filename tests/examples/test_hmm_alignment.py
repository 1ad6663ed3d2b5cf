"""The HMM example: the forward algorithm in minigrad ops equals the sum over
every state path, its gradient is the posteriors NumPy's forward-backward
finds, Baum-Welch climbs, Viterbi finds the best path, and the program runs."""

import importlib.util
import itertools
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from examples import hmm_alignment as hmm
from minigrad import testing as mt

PLOTS = importlib.util.find_spec("matplotlib") is not None  # (the test venv has no matplotlib)


def brute_force(log_start, log_trans, log_emit, lengths, log_end) -> np.ndarray:
    """ln Σ over every state path of each sequence (−inf when none is possible)."""
    steps, batch, states = log_emit.shape
    start, end = np.broadcast_to(log_start, (batch, states)), np.broadcast_to(log_end, (batch, states))
    trans = np.broadcast_to(log_trans, (batch, states, states))
    out = []
    for b in range(batch):
        scores = [start[b, p[0]] + sum(log_emit[t, b, p[t]] for t in range(lengths[b]))
                  + sum(trans[b, p[t - 1], p[t]] for t in range(1, lengths[b])) + end[b, p[-1]]
                  for p in itertools.product(range(states), repeat=int(lengths[b]))]
        out.append(np.logaddexp.reduce(scores))
    return np.array(out)


@st.composite
def hmm_problems(draw, impossible: bool = True):
    """(log_start, log_trans, log_emit, lengths, log_end): batches of 1-3
    sequences of 1-4 steps over 1-3 states, padded, with per-sequence or shared
    transition and start/end scores, unnormalised, some entries −inf."""
    batch, steps, states = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    lengths = np.array(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
    shared = draw(st.booleans())

    def scores(shape):
        values = draw(mt.arrays(shape, low=-3.0, high=1.0))
        if impossible:
            forbidden = draw(mt.arrays(shape, low=0.0, high=1.0)) < 0.25
            values = np.where(forbidden, -np.inf, values)
        return values

    start = scores((states,) if shared else (batch, states))
    trans = scores((states, states) if shared else (batch, states, states))
    end = scores((states,) if shared else (batch, states))
    return start, trans, scores((steps, batch, states)), lengths, end


@given(hmm_problems())
def test_forward_algorithm_is_the_sum_over_all_paths(problem):
    start, trans, emit, lengths, end = problem
    got = hmm.hmm_forward(start, trans, mg.tensor(emit), lengths, end).data
    expected = brute_force(*problem)
    assert np.array_equal(np.isneginf(got), np.isneginf(expected)), (got, expected)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10, atol=1e-10)


@given(hmm_problems(impossible=False))
def test_forward_algorithm_gradients_by_finite_differences(problem):
    start, trans, emit, lengths, end = problem
    inputs = [mg.tensor(a, requires_grad=True) for a in (start, trans, emit, end)]
    assert mg.gradcheck(lambda s, a, e, f: hmm.hmm_forward(s, a, e, lengths, f), inputs)


@given(hmm_problems())
def test_gradient_of_ln_p_is_numpys_forward_backward_posteriors(problem):
    """∂ ln p / ∂ emit_t(s) = γ_t(s), the posterior of state s at step t."""
    start, trans, emit, lengths, end = problem
    log_emit = mg.tensor(emit, requires_grad=True)
    log_likelihood = hmm.hmm_forward(start, trans, log_emit, lengths, end)
    expected_ll, posteriors = hmm.forward_backward(start, trans, emit, lengths, end)
    np.testing.assert_allclose(log_likelihood.data, expected_ll, rtol=1e-10)
    possible = np.isfinite(expected_ll)
    log_likelihood.sum().backward()
    np.testing.assert_allclose(log_emit.grad.data[:, possible], posteriors[:, possible], atol=1e-10)
    assert not log_emit.grad.data[:, ~possible].any()  # impossible sequences: −inf, zero gradient


def test_single_step_batch_of_one_and_float32():
    emit = np.log(np.array([[[0.2, 0.5]]], dtype=np.float32))
    got = hmm.hmm_forward(np.log([0.3, 0.7]).astype(np.float32), np.zeros((2, 2), np.float32), mg.tensor(emit), [1])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.data, [np.log(0.3 * 0.2 + 0.7 * 0.5)], rtol=1e-6)


def test_a_left_to_right_chain_too_short_for_its_labels_is_impossible():
    chain = np.where(np.eye(3, k=1) + np.eye(3) > 0, 0.0, -np.inf)  # stay or move right (ln 1); nothing else
    emit = mg.tensor(np.zeros((4, 2, 3)), requires_grad=True)
    first, last = np.array([0.0, -np.inf, -np.inf]), np.array([-np.inf, -np.inf, 0.0])
    log_likelihood = hmm.hmm_forward(first, chain, emit, [2, 4], last)
    assert np.isneginf(log_likelihood.data[0]) and log_likelihood.data[1] == pytest.approx(np.log(3))
    log_likelihood[1].backward()
    assert np.isfinite(emit.grad.data).all()


def test_hmm_forward_rejects_bad_input():
    emit = mg.tensor(np.zeros((3, 2, 2)))
    ok = dict(log_start=np.zeros(2), log_trans=np.zeros((2, 2)), log_emit=emit, lengths=[1, 3])
    for change, message in [({"lengths": [0, 3]}, "lengths must lie in 1..3"),
                            ({"lengths": [1, 4]}, "lengths must lie in 1..3"),
                            ({"lengths": [1]}, r"lengths must be 2 integers \(one per sequence\), got shape \(1,\)"),
                            ({"log_trans": np.zeros((3, 3))}, r"log_trans must have shape \(2, 2, 2\) or \(2, 2\)"),
                            ({"log_start": np.zeros((3, 2))}, r"log_start must have shape \(2, 2\) or \(2,\)"),
                            ({"log_emit": mg.tensor(np.zeros((3, 2)))}, r"log_emit must be \(T, B, N\)")]:
        with pytest.raises(ValueError, match=message):
            hmm.hmm_forward(**{**ok, **change})
    with pytest.raises(TypeError, match="floating point"):
        hmm.hmm_forward(**{**ok, "log_emit": mg.tensor(np.zeros((3, 2, 2), dtype=np.int64))})
    with pytest.raises(TypeError, match="lengths must be integers, got dtype float64"):
        hmm.hmm_forward(**{**ok, "lengths": [1.0, 2.0]})


def test_nan_scores_give_nan_and_an_empty_batch_gives_nothing():
    nan_emit = mg.tensor(np.array([[[np.nan, 0.0]], [[0.0, 0.0]]]))
    assert np.isnan(hmm.hmm_forward(np.zeros(2), np.zeros((2, 2)), nan_emit, [2]).data).all()
    empty = hmm.hmm_forward(np.zeros(2), np.zeros((2, 2)), mg.tensor(np.zeros((3, 0, 2))), np.zeros(0, int))
    assert empty.shape == (0,)


def segmentations(total: int, parts: int):
    """Every way to split ``total`` frames into ``parts`` runs of at least one."""
    for cuts in itertools.combinations(range(1, total), parts - 1):
        bounds = (0, *cuts, total)
        yield [bounds[k + 1] - bounds[k] for k in range(parts)]


def test_label_chain_is_the_generative_model_summed_over_segmentations():
    """ln p(frames | labels) = ln Σ over durations of Π_k stay^(d_k − 1)(1 − stay)·Π emissions."""
    rng = np.random.default_rng(1)
    emission, stay = rng.dirichlet(np.ones(4), size=3), rng.uniform(0.3, 0.9, size=3)
    frames = [rng.integers(0, 4, size=n) for n in (5, 3, 6)]
    strings = [[0, 2, 1], [1, 0], [2]]
    model = hmm.LabelHMM(emission, stay)
    got = model(hmm.pad_batch(frames, strings)).data
    for f, string, value in zip(frames, strings, got):
        total = 0.0
        for durations in segmentations(len(f), len(string)):
            states = np.repeat(string, durations)
            total += (np.prod(stay[string] ** (np.array(durations) - 1) * (1 - stay[string]))
                      * np.prod(emission[states, f]))
        assert value == pytest.approx(np.log(total), rel=1e-12)


def test_baum_welch_climbs_and_ends_where_the_gradient_vanishes():
    rng = np.random.default_rng(0)
    true_hmm = hmm.random_hmm(rng)
    frames, strings = hmm.sample_utterances(300, *true_hmm, rng)
    batches = hmm.length_sorted_batches(frames, strings, 100)
    params, totals = hmm.flat_start(frames, len(hmm.LABELS)), []
    for _ in range(100):
        *params, total = hmm.baum_welch_step(*params, batches)
        totals.append(total)
    assert np.all(np.diff(totals) >= -1e-9 * abs(totals[-1]))  # EM never lowers the likelihood
    assert totals[-1] > totals[0] + 100
    model = hmm.LabelHMM(*params)  # at EM's fixed point the likelihood's gradient is zero
    sum(model(b).sum() for b in batches).backward()
    assert np.abs(model.emission_logits.grad.data).max() < 1e-4
    assert np.abs(model.stay_logits.grad.data).max() < 1e-4
    assert hmm.per_frame(*params, batches) == pytest.approx(totals[-1] / hmm.frames_in(batches), abs=1e-9)


@given(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2 ** 32 - 1))
def test_viterbi_finds_the_best_path(steps, states, seed):
    rng = np.random.default_rng(seed)
    start, trans, emit = rng.normal(size=states), rng.normal(size=(states, states)), rng.normal(size=(steps, states))
    path = hmm.viterbi(start, trans, emit)

    def score(p):
        return start[p[0]] + emit[np.arange(steps), list(p)].sum() + sum(trans[a, b] for a, b in zip(p, p[1:]))

    best = max(itertools.product(range(states), repeat=steps), key=score)
    assert score(path) == pytest.approx(score(best))


def test_sampled_utterances_follow_the_rules():
    rng = np.random.default_rng(3)
    frames, strings = hmm.sample_utterances(200, *hmm.random_hmm(rng), rng)
    assert {len(s) for s in strings} == set(range(3, 8))
    assert all(a != b for s in strings for a, b in zip(s, s[1:]))
    assert all(len(f) >= len(s) for f, s in zip(frames, strings))
    with pytest.raises(ValueError, match="at least one frame per label"):
        hmm.pad_batch([np.array([0, 1])], [[0, 1, 2]])


def test_program_runs_and_reports(tmp_path, capsys):
    plot = tmp_path / "hmm.png"
    assert hmm.main(["--train-size", "60", "--test-size", "20", "--em-iterations", "3", "--steps", "3",
                     "--ctc-epochs", "1", "--plot", str(plot) if PLOTS else ""]) == 0
    out = capsys.readouterr().out
    rates = dict(re.findall(r"^ +(.+?) +([0-9.]+)%$", out, flags=re.M))
    assert set(rates) == {"HMM (true)", "HMM (EM)", "HMM (gradient ascent)", "CTC (BiGRU)"}
    assert re.search(r"per frame: true -[0-9.]+, EM -[0-9.]+, gradient ascent -[0-9.]+", out)
    assert plot.exists() == PLOTS
    with pytest.raises(SystemExit):
        hmm.main(["--steps", "0"])
