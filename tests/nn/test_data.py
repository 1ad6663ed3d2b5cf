"""Padding, seeded batches, the character vocabulary."""

import numpy as np
import pytest

import minigrad as mg
import nn


def test_pad_sequences():
    padded, lengths = nn.pad_sequences([[1, 2, 3], [4], [5, 6]], pad_value=0)
    np.testing.assert_array_equal(padded, [[1, 2, 3], [4, 0, 0], [5, 6, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    with pytest.raises(ValueError, match="maxlen 2"):
        nn.pad_sequences([[1, 2, 3]], maxlen=2)


@pytest.mark.parametrize("sequences, kwargs, message", [
    ([np.array([300, 7])], dict(dtype=np.uint8), "sequence 0 holds 300, which does not fit: dtype uint8 holds 0..255"),
    ([[1], np.array([-1, 7])], dict(dtype=np.uint8), "sequence 1 holds -1, which"),
    ([[np.int64(300), np.int64(7)]], dict(dtype=np.uint8), "sequence 0 holds 300"),
    ([np.array([70000, 5])], dict(dtype=np.uint16), "holds 70000, which does not fit: dtype uint16 holds 0..65535"),
    ([[1, 200]], dict(dtype=np.int8), "holds 200, which does not fit: dtype int8 holds -128..127"),
    ([[1], [2, 3]], dict(dtype=np.uint8, pad_value=np.int64(300)), "pad_value 300 does not fit: dtype uint8"),
    ([[1], [2, 3]], dict(dtype=np.uint8, pad_value=-1), "pad_value -1 does not fit"),
])
def test_pad_sequences_refuses_values_its_dtype_cannot_hold(sequences, kwargs, message):
    """They wrapped around: 300 -> 44 and -1 -> 255 in uint8, 70000 -> 4464 in uint16."""
    with pytest.raises(ValueError, match=message):
        nn.pad_sequences(sequences, **kwargs)


def test_pad_sequences_takes_the_bounds_of_its_dtype():
    padded, _ = nn.pad_sequences([[0, 255], [7]], pad_value=255, dtype=np.uint8)
    np.testing.assert_array_equal(padded, [[0, 255], [7, 255]])


def test_pad_sequences_refuses_non_integers_for_integer_ids():
    """They were truncated into the int64 output: [[0.5, 1.7], [2.9]] gave [[0, 1], [2, 0]], a pad of -0.5 gave 0."""
    with pytest.raises(TypeError, match=r"sequence 0 must hold integers for dtype int64, got dtype float64"):
        nn.pad_sequences([[0.5, 1.7], [2.9]])
    with pytest.raises(TypeError, match=r"sequence 1 must hold integers"):
        nn.pad_sequences([[1], [2, 3.5]])
    for pad in (-0.5, 1.0, True):
        with pytest.raises(TypeError, match=f"pad_value must be an int for dtype int64, got {type(pad).__name__}"):
            nn.pad_sequences([[1], [2, 3]], pad_value=pad)
    padded, _ = nn.pad_sequences([[0.5], [1.5, 2.5]], pad_value=-0.5, dtype=np.float32)  # float data is kept
    np.testing.assert_array_equal(padded, [[0.5, -0.5], [1.5, 2.5]])
    padded, _ = nn.pad_sequences([np.array([1, 2], np.int32), []], pad_value=np.int64(-1))
    np.testing.assert_array_equal(padded, [[1, 2], [-1, -1]])


def test_pad_sequences_maxlen_must_be_a_non_negative_int():
    """maxlen=True padded to width 1 (True == 1) and maxlen=2.5 raised NumPy's 'float object cannot be
    interpreted as an integer'; a negative maxlen blamed the sequences' lengths."""
    for maxlen in (True, 2.5, "3"):
        with pytest.raises(TypeError, match=f"pad_sequences: maxlen must be an int or None, got "
                                            f"{type(maxlen).__name__}"):
            nn.pad_sequences([[1]], maxlen=maxlen)
    with pytest.raises(ValueError, match="pad_sequences: maxlen must be >= 0, got -1"):
        nn.pad_sequences([[]], maxlen=-1)
    padded, lengths = nn.pad_sequences([[1], []], maxlen=np.int64(3))
    np.testing.assert_array_equal(padded, [[1, 0, 0], [0, 0, 0]])


def test_batches_cover_every_row_once_and_are_seeded():
    x, y = np.arange(10), np.arange(10) * 10
    first = list(nn.batches(x, y, batch_size=3, rng=np.random.default_rng(0)))
    again = list(nn.batches(x, y, batch_size=3, rng=np.random.default_rng(0)))
    assert [len(b[0]) for b in first] == [3, 3, 3, 1]
    np.testing.assert_array_equal(np.sort(np.concatenate([b[0] for b in first])), x)
    for (a, b), (c, d) in zip(first, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
        np.testing.assert_array_equal(b, a * 10)
    assert [len(b) for b in nn.batches(x, batch_size=4, shuffle=False, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="different lengths"):
        nn.batches(x, y[:5], batch_size=2)  # at the call, not at the first batch
    for size in (0, 2.5, True, "3"):  # (2.5 once failed only at the first batch, in range())
        with pytest.raises(ValueError, match=f"batch_size must be an int >= 1, got {size!r}"):
            nn.batches(x, batch_size=size)


def test_batches_checks_its_flags_and_rng_at_the_call():
    """shuffle="no" shuffled and drop_last="yes" dropped (bool of a string),
    and rng=42 (a seed for a generator) was refused only at the first batch."""
    x = np.arange(5)
    for name in ("shuffle", "drop_last"):
        with pytest.raises(TypeError, match=f"batches: {name} must be True or False, got str 'no'"):
            nn.batches(x, batch_size=2, **{name: "no"})
    with pytest.raises(TypeError, match="batches: rng must be a numpy.random.Generator, got int"):
        nn.batches(x, batch_size=2, rng=42)


def test_batches_of_sequences_of_different_lengths():
    """A list of id sequences of different lengths (to pad per batch) raised NumPy's 'inhomogeneous shape'
    at the first batch, though batches() promises its checks at the call; a number (no rows) raised
    "object of type 'int' has no len()"."""
    sequences = [[1], [2, 3], [4, 5, 6], [7]]
    seen = []
    for batch in nn.batches(sequences, np.arange(4), batch_size=3, rng=np.random.default_rng(0)):
        padded, lengths = nn.pad_sequences(batch[0])
        seen += [tuple(row[:n]) for row, n in zip(padded.tolist(), lengths)]
        assert [sequences[i] for i in batch[1]] == [list(s) for s in batch[0]]
    assert sorted(seen) == sorted(tuple(s) for s in sequences)
    for value in (3, np.float64(2.0), np.array(1.0)):
        with pytest.raises(TypeError, match="batches: array 1 has no rows"):
            nn.batches(np.arange(3), value, batch_size=2)


def test_char_vocab_round_trip_and_specials():
    vocab = nn.CharVocab.from_texts(["hello", "world"])
    ids = vocab.encode("hold", add_bos=True, add_eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert vocab.decode(ids) == "hold"
    assert vocab.decode(ids[:-1] + [vocab.stoi["o"]] + [vocab.eos_id, vocab.stoi["x"] if "x" in vocab.stoi else 3]) \
        == "holdo"
    padded, lengths = vocab.encode_batch(["he", "world"], add_eos=True)
    assert padded.shape == (2, 6) and padded[0, 3] == vocab.pad_id and lengths.tolist() == [3, 6]


def test_char_vocab_unknown_character_is_named():
    vocab = nn.CharVocab("abc")
    with pytest.raises(ValueError, match="unknown character 'z' at position 1"):
        vocab.encode("az")
    with_unk = nn.CharVocab("abc", unk=True)
    assert with_unk.encode("az") == [with_unk.stoi["a"], with_unk.unk_id]


def test_char_vocab_flags_must_be_bools():
    """unk='no' added an <unk> token, encode(add_bos=2) added two bos ids, decode(stop_at_eos='False') stopped
    at eos, and add_eos=None raised "can't multiply sequence by non-int of type 'NoneType'"."""
    with pytest.raises(TypeError, match="CharVocab: unk must be True or False, got str 'no'"):
        nn.CharVocab("abc", unk="no")
    vocab = nn.CharVocab("abc")
    for name in ("add_bos", "add_eos"):
        for value in (2, "yes", None):
            with pytest.raises(TypeError, match=f"CharVocab.encode: {name} must be True or False"):
                vocab.encode("ab", **{name: value})
        with pytest.raises(TypeError, match=f"CharVocab.encode: {name} must be True or False"):
            vocab.encode_batch(["ab"], **{name: 1})
    with pytest.raises(TypeError, match="CharVocab.decode: stop_at_eos must be True or False, got str 'False'"):
        vocab.decode([3, 2, 4], stop_at_eos="False")
    assert vocab.encode("ab", add_bos=np.bool_(True)) == [1, 3, 4]


def test_char_vocab_decode_takes_integer_ids_only():
    """decode([3.7, 4.2]) truncated the floats to ids 3 and 4 ('ab'), decode('34') read the digits as ids
    ('ab'), decode([True, 3]) took True as bos; a (1, 2) array raised 'only 0-dimensional arrays can be
    converted'."""
    vocab = nn.CharVocab("abc")
    for ids in ([3.7, 4.2], np.array([3.0, 4.0]), "34", [True, 3], [3, 4.5]):
        with pytest.raises(TypeError, match="CharVocab.decode: ids must be integers, got"):
            vocab.decode(ids)
    with pytest.raises(ValueError, match=r"CharVocab.decode: ids must be one sequence \(1-D\), got shape \(1, 2\)"):
        vocab.decode(np.array([[3, 4]]))
    for ids in ([3, 4, 2, 5], np.array([3, 4, 2, 5], np.uint8), mg.tensor(np.array([3, 4, 2, 5])), (i for i in [3, 4])):
        assert vocab.decode(ids) == "ab"
    assert vocab.decode([]) == ""


@pytest.mark.parametrize("sequences, pad_value, bad", [([[1, 2]], 0, "sequence 0 holds 2"),
                                                       ([[True], [0, 1]], 5, "pad_value holds 5")])
def test_pad_sequences_to_bool_takes_zeros_and_ones_only(sequences, pad_value, bad):
    """dtype=bool turned 2 (or a pad_value of 5) into True without a word."""
    with pytest.raises(ValueError, match=f"pad_sequences: {bad}; dtype bool holds True/False"):
        nn.pad_sequences(sequences, pad_value, dtype=bool)
    padded, lengths = nn.pad_sequences([[True], [0, 1]], dtype=bool)
    assert padded.tolist() == [[True, False], [False, True]] and lengths.tolist() == [1, 2]
