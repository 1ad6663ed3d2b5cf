"""examples.word2vec: its examples, model, loss and held-out measure against
brute force and hand-written NumPy; a short run; the published target (slow)."""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from benchmarks.word2vec import SIZES, check
from examples import word2vec as w2v

PAD = 9


def brute_force_examples(ids, reach, window, model):
    """Position by position, neighbour by neighbour, in the order examples_of promises."""
    inputs, targets = [], []
    for i, centre in enumerate(ids):
        around = [ids[i + o] if 0 <= i + o < len(ids) and abs(o) <= reach[i] else PAD
                  for o in list(range(-window, 0)) + list(range(1, window + 1))]
        if model == "skipgram":
            inputs += [centre] * sum(w != PAD for w in around)
            targets += [w for w in around if w != PAD]
        elif any(w != PAD for w in around):
            inputs.append(around)
            targets.append(centre)
    return inputs, targets


@given(st.data(), st.integers(0, 12), st.integers(1, 4), st.sampled_from(["skipgram", "cbow"]))
def test_examples_are_every_neighbour_within_reach(data, length, window, model):
    ids = np.array(data.draw(st.lists(st.integers(0, PAD - 1), min_size=length, max_size=length)), dtype=np.int64)
    reach = np.array(data.draw(st.lists(st.integers(1, window), min_size=length, max_size=length)), dtype=np.int64)
    inputs, targets = w2v.examples_of(ids, reach, window, model, PAD)
    want_inputs, want_targets = brute_force_examples(ids, reach, window, model)
    assert targets.tolist() == want_targets
    assert inputs.tolist() == want_inputs
    if model == "cbow":
        assert inputs.shape == (len(want_targets), 2 * window)


def test_vocabulary_keeps_frequent_words_most_frequent_first():
    vocab = w2v.Vocabulary("b a b c a b d".split(), min_count=2)
    assert vocab.words == ["b", "a"] and vocab.counts.tolist() == [3, 2] and len(vocab) == 2
    assert vocab.encode("a c b x b".split()).tolist() == [1, 0, 0]  # unknown words dropped, not mapped
    with pytest.raises(ValueError, match="min_count=4"):
        w2v.Vocabulary("a b".split(), min_count=4)


def test_words_are_identifiers_from_the_pydoc_topics():
    words = w2v.load_words()
    assert len(words) > 50_000 and "__init__" in words and "exception" in words
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", w) for w in words[:5000])


def test_noise_distribution_is_the_three_quarter_power():
    q = w2v.noise_distribution(np.array([16.0, 1.0, 81.0]))
    assert q.sum() == pytest.approx(1) and q[0] / q[1] == pytest.approx(8) and q[2] / q[1] == pytest.approx(27)


def test_subsampling_follows_word2vecs_rule():
    counts = np.array([900.0, 90.0, 10.0])  # frequencies 0.9, 0.09, 0.01
    ids = np.repeat([0, 1, 2], 100_000)
    rng = np.random.default_rng(0)
    assert w2v.subsample(ids, counts, 0.0, rng) is ids
    kept = np.bincount(w2v.subsample(ids, counts, 0.01, rng), minlength=3) / 100_000
    ratio = 0.01 / np.array([0.9, 0.09, 0.01])
    assert kept == pytest.approx(np.minimum(1, np.sqrt(ratio) + ratio), abs=0.005)
    assert kept[2] == 1  # a word as rare as the threshold is always kept


def make_model(model: str, vocab: int = 7, dim: int = 3, seed: int = 0) -> w2v.Word2Vec:
    mg.manual_seed(seed)
    net = w2v.Word2Vec(vocab, dim, model).to(np.float64)
    rng = np.random.default_rng(seed)
    with mg.no_grad():
        net.input.weight.data[:vocab] = rng.standard_normal((vocab, dim))
        net.output.weight.data[...] = rng.standard_normal((vocab, dim))
    return net


def test_scores_are_dot_products_and_cbow_averages_real_neighbours_only():
    net = make_model("cbow")
    v, u = net.input.weight.data, net.output.weight.data
    assert not v[7].any()  # the padding row
    inputs = np.array([[1, 2, 7, 7], [7, 3, 3, 7]])
    candidates = np.array([[0, 5, 5], [6, 1, 2]])
    h = np.stack([(v[1] + v[2]) / 2, v[3]])
    assert net(inputs, candidates).data == pytest.approx(np.einsum("bkd,bd->bk", u[candidates], h))
    with pytest.raises(ValueError, match=r"rows \[1\] are all padding"):
        net(np.array([[1, 7], [7, 7]]), candidates)
    sg = make_model("skipgram")
    assert sg(np.array([4, 4]), candidates).data == pytest.approx(
        np.einsum("bkd,bd->bk", sg.output.weight.data[candidates], sg.input.weight.data[[4, 4]]))


def test_loss_is_the_negative_sampling_objective():
    scores = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 0.0]])
    loss = w2v.negative_sampling_loss(mg.tensor(scores)).item()
    sig = lambda x: 1 / (1 + math.exp(-x))
    want = [-math.log(sig(s[0])) - sum(math.log(sig(-x)) for x in s[1:]) for s in scores]
    assert loss == pytest.approx(np.mean(want), rel=1e-12)


@pytest.mark.parametrize("size", [s for s in SIZES if s[1] < 5000])
def test_step_matches_the_hand_written_numpy_reference(size):
    """Loss, gradients (padding row included: zero) and the Adam update, in float64, at the example's size."""
    assert check(size) < 1e-9


def test_held_out_loss_is_the_expectation_of_the_sampled_loss():
    vocab, negatives = 7, 4
    net = make_model("skipgram", vocab)
    q = w2v.noise_distribution(np.arange(1.0, vocab + 1))
    inputs, targets = np.array([0, 3, 3, 6]), np.array([1, 2, 2, 0])
    exact = w2v.held_out_loss(net, inputs, targets, q, negatives)
    rng = np.random.default_rng(0)
    draws = 20_000  # the sampled loss, many noise draws per example
    candidates = np.hstack([np.repeat(targets, draws)[:, None], rng.choice(vocab, (4 * draws, negatives), p=q)])
    with mg.no_grad():
        sampled = w2v.negative_sampling_loss(net(np.repeat(inputs, draws), candidates)).item()
    assert exact == pytest.approx(sampled, abs=0.02)
    untrained = w2v.Word2Vec(vocab, 3, "cbow")  # u = 0: every score 0
    assert w2v.held_out_loss(untrained, np.array([[1, 7], [2, 3]]), np.array([0, 0]), q, negatives) == \
        pytest.approx((negatives + 1) * math.log(2))


def test_unigram_baseline_is_the_best_input_blind_model():
    rng = np.random.default_rng(0)
    q = w2v.noise_distribution(np.array([50.0, 20, 10, 5, 1]))
    train = rng.choice(5, 1000, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    best = w2v.unigram_loss(train, train, q, 3)
    p = np.bincount(train, minlength=5) / len(train)
    s = np.log(p / (3 * q))
    for _ in range(20):  # any other scores do worse on the data they were fitted to
        other = s + rng.normal(0, 0.3, 5)
        loss = w2v.expected_loss(other[train], other[None, :], q, 3).mean()
        assert loss > best


def test_nearest_neighbours_by_cosine():
    vocab = w2v.Vocabulary("a b c d".split(), 1)
    vectors = np.array([[1.0, 0], [10, 1], [0, 1], [-1, 0]])
    assert [w for w, _ in w2v.nearest(vectors, vocab, "a", 3)] == ["b", "c", "d"]
    assert w2v.nearest(vectors, vocab, "a", 1)[0][1] == pytest.approx(10 / math.sqrt(101))


@pytest.mark.parametrize("model, lr", [("skipgram", "0.01"), ("cbow", "0.05")])
def test_two_epochs_beat_the_unigram_line(model, lr, capsys):
    """Measured: held-out 2.576 (skip-gram), 2.489 (CBOW) against the unigram's 2.629."""
    assert w2v.main(["--model", model, "--epochs", "2", "--lr", lr, "--dim", "32", "--plot", "",
                     "--neighbours", "true", "zzz"]) == 0
    out = capsys.readouterr().out
    untrained, unigram = map(float, re.search(r"untrained ([0-9.]+), unigram ([0-9.]+)", out).groups())
    losses = [float(v) for v in re.findall(r"held-out loss ([0-9.]+)", out)]
    assert untrained == pytest.approx(6 * math.log(2), abs=1e-4) and len(losses) == 2
    assert losses[-1] < unigram - 0.02 and unigram < untrained, (losses, unigram)
    assert re.search(r"true: \w+ [0-9.-]+, ", out) and "zzz: not in the vocabulary" in out


def test_help_describes_the_objective(capsys):
    with pytest.raises(SystemExit) as exit_:
        w2v.main(["--help"])
    assert exit_.value.code == 0 and "negative sampling" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
@pytest.mark.parametrize("options, why", [
    (["--max-words", "10"], "no word occurs min_count=5 times in 9 words"),
    (["--min-count", "10000000"], "no word occurs min_count=10000000 times"),
    (["--max-words", "12", "--min-count", "1"], "and 0 held-out"),  # (the 2 held-out words are not in the vocabulary)
])
def test_too_little_text_is_a_usage_error_before_training(model, options, why, monkeypatch, capsys):
    """--max-words 10 raised Vocabulary's ValueError with a traceback; --max-words 12 --min-count 1 trained and
    reported every held-out loss as nan (a mean over no examples)."""
    monkeypatch.setattr(w2v, "Word2Vec", None)  # (calling it would be training)
    with pytest.raises(SystemExit) as exit_:
        w2v.main(["--model", model, "--plot", "", *options])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "too little text" in err and "for --min-count" in err and why in err


@pytest.mark.slow
@pytest.mark.parametrize("model, target", [("skipgram", 2.58), ("cbow", 2.30)])  # measured 2.562, 2.250
def test_default_run_beats_the_unigram_line(model, target, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert w2v.main(["--model", model]) == 0
    out = capsys.readouterr().out
    unigram = float(re.search(r"unigram ([0-9.]+)", out).group(1))
    final = float(re.findall(r"held-out loss ([0-9.]+)", out)[-1])
    assert final <= target < unigram, (final, unigram)
    assert "false" in re.search(r"true: (.*)", out).group(1)  # the nearest words to "true" include "false"
    assert (tmp_path / "word2vec.png").exists()
