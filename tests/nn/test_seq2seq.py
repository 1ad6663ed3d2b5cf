"""Seq2seq: gradients end to end, padding invariance, greedy and beam search, a training smoke test."""

import inspect
import itertools

import numpy as np
import pytest

import minigrad as mg
import nn
from nn.seq2seq import AttentionDecoder, Seq2Seq, beam_search

SRC = np.array([[3, 4, 5, 0, 0], [6, 3, 4, 4, 5]])
SRC_LEN = np.array([3, 5])
TGT_IN = np.array([[1, 3, 4, 0], [1, 5, 5, 4]])
TGT_OUT = np.array([[3, 4, 2, 0], [5, 5, 4, 2]])


def tiny(**kw):
    return nn.Seq2Seq(7, 6, embedding_dim=3, hidden_size=2, rng=np.random.default_rng(0), **kw).to(np.float64)


@pytest.mark.parametrize("kw", [{}, {"input_feeding": True}, {"attention": "additive", "cell": "gru"},
                                {"attention": None}, {"bidirectional": False, "num_layers": 2}])
def test_end_to_end_gradcheck(kw):
    model = tiny(**kw)
    assert mg.gradcheck(lambda *ps: model.loss(SRC, SRC_LEN, TGT_IN, TGT_OUT), list(model.parameters()),
                        fast_mode=True)


def test_padding_does_not_change_the_loss():
    model = tiny()
    loss = model.loss(SRC, SRC_LEN, TGT_IN, TGT_OUT).item()
    src = SRC.copy()
    src[0, 3:] = 6  # garbage where the first sentence is padding
    longer = np.concatenate([src, np.zeros((2, 3), dtype=int)], axis=1)  # and more padding columns
    assert model.loss(longer, SRC_LEN, TGT_IN, TGT_OUT).item() == pytest.approx(loss, rel=1e-12)
    tgt_in = np.concatenate([TGT_IN, np.zeros((2, 2), dtype=int)], axis=1)
    tgt_out = np.concatenate([TGT_OUT, np.zeros((2, 2), dtype=int)], axis=1)
    assert model.loss(SRC, SRC_LEN, tgt_in, tgt_out).item() == pytest.approx(loss, rel=1e-12)


def test_beam_of_one_equals_greedy():
    model = tiny(attention="concat")
    greedy, _ = model.greedy_decode(SRC, SRC_LEN, max_len=6)
    beam, _ = model.beam_search(SRC, SRC_LEN, beam_width=1, max_len=6, length_penalty=0.0)
    assert beam == greedy


class MarkovModel:
    """A hand-built model: the next token's log-probabilities depend on the previous token only.
    Token 2 is eos. Greedy takes token 3 first (0.5), but the best sequence starts with token 4."""

    def __init__(self):
        p = np.full((5, 5), 1e-9)
        p[1, 3], p[1, 4], p[1, 2] = 0.5, 0.4, 0.1  # after bos
        p[3, 2], p[3, 3], p[3, 4] = 0.34, 0.33, 0.33  # after 3 every continuation is poor
        p[4, 2], p[4, 3] = 0.95, 0.05  # after 4 eos is almost sure
        self.log_p = np.log(p / p.sum(axis=1, keepdims=True))

    def step(self, tokens, state):
        return self.log_p[tokens], state


def all_sequences(model, max_len, eos=2):
    """Every complete sequence up to max_len tokens (ending in eos) with its total log-probability."""
    results = {}
    for n in range(1, max_len + 1):
        for seq in itertools.product([2, 3, 4], repeat=n):
            if seq[-1] != eos or eos in seq[:-1]:
                continue
            prev, total = 1, 0.0
            for tok in seq:
                total += model.log_p[prev, tok]
                prev = tok
            results[seq[:-1]] = total
    return results


def test_beam_search_finds_what_greedy_misses():
    model = MarkovModel()
    best_seq, best_score = max(all_sequences(model, 4).items(), key=lambda kv: kv[1])
    greedy, _ = beam_search(model.step, {}, 1, 1, 4, bos_id=1, eos_id=2, length_penalty=0.0)
    found, score = beam_search(model.step, {}, 1, 5, 4, bos_id=1, eos_id=2, length_penalty=0.0)
    assert greedy[0] != list(best_seq)
    assert found[0] == list(best_seq) and score[0] == pytest.approx(best_score)


def test_length_penalty_default_is_the_per_token_average_in_both_entry_points():
    """Both beam searches default to length_penalty=1: with a beam wide enough to keep every
    prefix, the winner is the brute-force best total/length (length counting eos; a sequence
    cut off at max_len competes with its own length)."""
    assert inspect.signature(beam_search).parameters["length_penalty"].default == 1.0
    assert inspect.signature(nn.Seq2Seq.beam_search).parameters["length_penalty"].default == 1.0
    model = MarkovModel()
    p = np.full((5, 5), 1e-9)
    p[1, 2], p[1, 3] = 0.5, 0.5  # stop at once, or say 3 ...
    p[3, 2], p[3, 4] = 0.95, 0.05  # ... and then stop: a lower total, a better average
    p[4, 2] = 1.0
    model.log_p = np.log(p / p.sum(axis=1, keepdims=True))
    candidates = {}
    for n in range(1, 4):
        for seq in itertools.product(range(5), repeat=n):
            if 2 in seq[:-1] or (seq[-1] != 2 and n < 3):
                continue
            total = sum(model.log_p[prev, tok] for prev, tok in zip((1, *seq), seq))
            candidates[seq[:-1] if seq[-1] == 2 else seq] = total / n
    best = max(candidates, key=candidates.get)
    found, _ = beam_search(model.step, {}, 1, 5 ** 3, 3, bos_id=1, eos_id=2)
    raw, _ = beam_search(model.step, {}, 1, 5 ** 3, 3, bos_id=1, eos_id=2, length_penalty=0.0)
    assert found[0] == list(best) and raw[0] != found[0]


def test_beam_search_is_batched_and_reorders_state():
    model = MarkovModel()
    counter = {"rows": []}

    def step(tokens, state):
        counter["rows"].append(state["row"].copy())
        return model.log_p[tokens], state

    found, _ = beam_search(step, {"row": np.array([10, 20, 30])}, 3, 2, 4, bos_id=1, eos_id=2)
    assert found == [[4], [4], [4]]
    assert set(counter["rows"][-1]) <= {10, 20, 30} and len(counter["rows"][0]) == 6


def test_training_smoke_reversed_strings():
    """A tiny model learns to reverse short strings within a few seconds."""
    rng = np.random.default_rng(0)
    vocab = nn.CharVocab("abcd")
    words = ["".join(rng.choice(list("abcd"), size=rng.integers(2, 5))) for _ in range(1500)]
    src, src_len = vocab.encode_batch(words)
    tgt_in, _ = nn.pad_sequences([vocab.encode(w[::-1], add_bos=True) for w in words])
    tgt_out, _ = nn.pad_sequences([vocab.encode(w[::-1], add_eos=True) for w in words])
    mg.manual_seed(0)
    model = nn.Seq2Seq(len(vocab), len(vocab), embedding_dim=8, hidden_size=16)
    opt = nn.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(4):
        for rows in nn.batches(np.arange(1200), batch_size=64):
            loss = model.loss(src[rows], src_len[rows], tgt_in[rows], tgt_out[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    test = np.arange(1200, 1500)
    out, _ = model.greedy_decode(src[test], src_len[test], max_len=6)
    accuracy = np.mean([vocab.decode(o) == words[i][::-1] for o, i in zip(out, test)])
    assert accuracy > 0.9


def test_bad_input():
    model = tiny()
    with pytest.raises(ValueError, match="src must be a 2-D array of integer token ids"):
        model.loss(SRC.astype(float), SRC_LEN, TGT_IN, TGT_OUT)
    with pytest.raises(ValueError, match=r"Encoder: src_lengths must hold one length per sequence: expected shape"):
        model.loss(SRC, [3, 4, 5], TGT_IN, TGT_OUT)
    with pytest.raises(ValueError, match=r"src_lengths must lie in 1..5"):
        model.loss(SRC, [0, 5], TGT_IN, TGT_OUT)
    with pytest.raises(ValueError, match="same shape"):
        model.loss(SRC, SRC_LEN, TGT_IN, TGT_OUT[:, :3])
    with pytest.raises(ValueError, match="cell must be one of"):
        nn.Seq2Seq(5, 5, cell="rnn")


@pytest.mark.parametrize("name, value", [("max_len", 0), ("max_len", -3), ("max_len", 2.5), ("max_len", True),
                                         ("beam_width", 0), ("beam_width", 2.5), ("beam_width", "4")])
def test_every_decoder_checks_beam_width_and_max_len_first(name, value, monkeypatch):
    model = tiny()
    monkeypatch.setattr(model, "_start", lambda *a: pytest.fail("the encoder ran before the arguments were checked"))
    message = f"{name} must be a positive int, got {value!r}"
    if name == "max_len":
        with pytest.raises(ValueError, match=f"greedy_decode: {message}"):
            model.greedy_decode(SRC, SRC_LEN, max_len=value)
    with pytest.raises(ValueError, match=f"beam_search: {message}"):
        model.beam_search(SRC, SRC_LEN, **{"beam_width": 2, "max_len": 3, name: value})
    with pytest.raises(ValueError, match=f"beam_search: {message}"):
        beam_search(lambda tokens, state: pytest.fail("step ran"), {}, 1,
                    **{"beam_width": 2, "max_len": 3, name: value}, bos_id=1, eos_id=2)


def test_beam_of_one_equals_greedy_on_a_one_ulp_tie():
    """Greedy took the argmax of the logits, beam search of their log_softmax, which rounds two logits one
    float32 ulp apart to one value: greedy [4, 4, 4], beam width 1 [3, 3, 3] (outside audit)."""
    model = Seq2Seq(11, 12, embedding_dim=5, hidden_size=4, rng=np.random.default_rng(0))
    model.eval()
    bias = np.full(12, 0.99e-4, np.float32)
    bias[3], bias[4], bias[2] = np.float32(1e-4), np.nextafter(np.float32(1e-4), np.float32(1)), -50
    model.decoder.out.weight.data[:] = 0
    model.decoder.out.bias.data[:] = bias
    greedy, _ = model.greedy_decode(np.array([[3, 4, 5]]), [3], 3)
    beam, _ = model.beam_search(np.array([[3, 4, 5]]), [3], beam_width=1, max_len=3)
    assert beam == greedy


@pytest.mark.parametrize("penalty, error", [(float("nan"), ValueError), (float("inf"), ValueError),
                                            ("1", TypeError), (True, TypeError)])
def test_beam_search_checks_length_penalty(penalty, error):
    model = Seq2Seq(11, 6, embedding_dim=5, hidden_size=4, rng=np.random.default_rng(0))
    with pytest.raises(error, match="length_penalty"):  # (NaN made every score NaN: the first beam, silently)
        model.beam_search(np.array([[3, 4, 5]]), [3], beam_width=2, max_len=4, length_penalty=penalty)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_input_feeding_decoder_starts_from_no_state_as_the_plain_one_does(cell):
    """forward(tgt, None, memory, None) worked without input feeding, and with it failed with 'LSTM: the state
    must be a tuple (h0, c0), got a NoneType' (outside audit). None is the zero state in both."""
    rng = np.random.default_rng(0)
    memory = mg.tensor(rng.standard_normal((2, 4, 7)))
    tgt = rng.integers(0, 9, (2, 3))
    decoder = AttentionDecoder(9, 5, 6, 7, "general", cell=cell, input_feeding=True, rng=rng).to(np.float64)
    zeros = mg.zeros((1, 2, 6), dtype=np.float64)
    given = zeros if cell == "gru" else (zeros, zeros)
    np.testing.assert_array_equal(decoder(tgt, None, memory, None)[0].numpy(),
                                  decoder(tgt, given, memory, None)[0].numpy())


@pytest.mark.parametrize("make", [lambda: nn.Seq2Seq(5, 5, 4, 3, input_feeding="False"),
                                  lambda: AttentionDecoder(5, 4, 3, 3, input_feeding="no")])
def test_input_feeding_refuses_a_string(make):
    """input_feeding="False" built an input-feeding decoder (bool("False") is
    True: another model, other parameter shapes): a TypeError naming the flag."""
    with pytest.raises(TypeError, match="input_feeding must be True or False"):
        make()


@pytest.mark.parametrize("ids, message", [
    (dict(eos_id=7), r"Seq2Seq: eos_id must lie in \[0, 5\), got 7"),
    (dict(bos_id=5), r"Seq2Seq: bos_id must lie in \[0, 5\), got 5"),
    (dict(pad_id=-1), r"Seq2Seq: pad_id must lie in \[0, 5\), got -1"),
    (dict(pad_id=6), r"Seq2Seq: pad_id must lie in \[0, 5\), got 6"),
    (dict(eos_id=2.0), "Seq2Seq: eos_id must be an int"),
    (dict(bos_id=0), r"Seq2Seq: bos_id must differ from pad_id \(.*never trained\), got bos_id = pad_id = 0"),
    (dict(pad_id=2), r"Seq2Seq: eos_id must differ from pad_id \(.*never be learned\), got eos_id = pad_id = 2"),
])
def test_special_token_ids_must_be_in_the_vocabularies(ids, message):
    """An eos_id outside the target vocabulary made greedy decoding silently
    never stop (and beam search an IndexError); pad_id=-1 was taken by the
    embeddings as the last row while the loss ignored the target -1. A bos_id
    equal to pad_id trained no bos embedding (the padding row gets no gradient),
    and an eos_id equal to it was never learned (the loss ignores pad targets),
    both without a word."""
    with pytest.raises((ValueError, TypeError), match=message):
        nn.Seq2Seq(8, 5, 4, 3, **ids)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_tgt_in_must_match_the_source_batch_and_have_a_step(input_feeding):
    """A tgt_in of another batch size was reported as the LSTM's h0 shape, and
    an empty one (with input feeding) as "stack: needs at least one tensor"."""
    model = nn.Seq2Seq(8, 5, 4, 3, input_feeding=input_feeding)
    src, lengths = np.array([[3, 4], [5, 0]]), [2, 1]
    with pytest.raises(ValueError, match=r"AttentionDecoder: tgt_in must be \(2, time >= 1\) to match the source "
                                         r"batch, got shape \(1, 3\)"):
        model(src, lengths, np.array([[1, 3, 4]]))
    with pytest.raises(ValueError, match=r"tgt_in must be \(2, time >= 1\).*got shape \(2, 0\)"):
        model(src, lengths, np.zeros((2, 0), dtype=int))


@pytest.mark.parametrize("eos_id", [5, -1])
def test_beam_search_refuses_an_eos_id_outside_the_scores(eos_id):
    """eos_id=5 for a step scoring 5 tokens died in NumPy's "index 5 is out of bounds" (eos_id=-1 was read
    as token 4, so a sequence ending in 4 counted as finished)."""
    with pytest.raises(ValueError, match=rf"beam_search: eos_id must lie in \[0, 5\), got {eos_id}"):
        beam_search(MarkovModel().step, {}, 1, 2, 4, bos_id=1, eos_id=eos_id)
