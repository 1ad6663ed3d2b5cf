"""Attention: gradients of every kind, masks, invariants, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from nn.attention import KINDS


def setup(kind, seed, tq=None):
    rng = np.random.default_rng(seed)
    attn = nn.Attention(3, 3, kind, rng=rng).to(np.float64)
    shape = (2, 3) if tq is None else (2, tq, 3)
    q = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    k = mg.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    return attn, q, k


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("tq", [None, 2])
def test_gradcheck(kind, masked, tq):
    attn, q, k = setup(kind, 0, tq)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], bool) if masked else None
    assert mg.gradcheck(lambda q, k, *ps: attn(q, k, mask)[0], [q, k, *attn.parameters()])
    assert mg.gradcheck(lambda q, k, *ps: attn(q, k, mask)[1], [q, k, *attn.parameters()])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("tq", [None, 2])
def test_gradgradcheck(kind, masked, tq):
    """Second derivatives (a gradient penalty's) of the context and the weights, masks included."""
    attn, q, k = setup(kind, 1, tq)
    mask = np.array([[1, 0, 0, 0], [1, 1, 1, 0]], bool) if masked else None
    assert mg.gradgradcheck(lambda q, k, *ps: attn(q, k, mask), [q, k, *attn.parameters()], fast_mode=True)


@pytest.mark.parametrize("kind", KINDS)
@given(seed=st.integers(0, 1000), lengths=st.lists(st.integers(1, 4), min_size=2, max_size=2))
def test_weights_sum_to_one_and_masked_weights_are_exactly_zero(kind, seed, lengths):
    attn, q, k = setup(kind, seed, tq=3)
    mask = np.arange(4)[None, :] < np.array(lengths)[:, None]
    context, weights = attn(q, k, mask)
    np.testing.assert_allclose(weights.data.sum(-1), 1.0)
    assert np.all(weights.data[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(context.data, weights.data @ k.data)
    # padding keys do not matter at all: change them and nothing changes
    k2 = k.data.copy()
    k2[~mask] = 99.0
    np.testing.assert_allclose(attn(q, mg.tensor(k2), mask)[0].data, context.data, rtol=1e-12)


def test_scores_by_hand():
    q, k = np.array([[1.0, 2.0]]), np.array([[[1.0, 0.0], [0.0, 1.0]]])
    dot = nn.Attention(2, 2, "dot").to(np.float64)
    _, w = dot(mg.tensor(q), mg.tensor(k))
    np.testing.assert_allclose(w.data, [np.exp([1, 2]) / np.exp([1, 2]).sum()])
    general = nn.Attention(2, 2, "general").to(np.float64)
    general.key_proj.weight.data[:] = [[2.0, 0.0], [0.0, -1.0]]
    _, w = general(mg.tensor(q), mg.tensor(k))
    np.testing.assert_allclose(w.data, [np.exp([2, -2]) / np.exp([2, -2]).sum()])


def test_bad_input():
    attn = nn.Attention(3, 4, "general")
    with pytest.raises(ValueError, match="kind must be one of"):
        nn.Attention(3, 3, "cosine")
    with pytest.raises(ValueError, match="'dot' needs query_size == key_size"):
        nn.Attention(3, 4, "dot")
    with pytest.raises(ValueError, match=r"keys must be \(batch, time >= 1, 4\)"):
        attn(mg.zeros(2, 3), mg.zeros(2, 5, 3))
    with pytest.raises(ValueError, match=r"keys must be \(batch, time >= 1, 4\), got shape \(2, 0, 4\)"):
        attn(mg.zeros(2, 3), mg.zeros(2, 0, 4))  # (gave zeros and weights summing to 0; outside audit)
    with pytest.raises(ValueError, match=r"query must be \(2, \[time,\] 3\)"):
        attn(mg.zeros(3, 3), mg.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 5\)"):
        attn(mg.zeros(2, 3), mg.zeros(2, 5, 4), np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="at least one True"):
        attn(mg.zeros(2, 3), mg.zeros(2, 5, 4), np.zeros((2, 5), bool))


@pytest.mark.parametrize("kind", ["general", "concat", "additive"])
def test_query_and_keys_must_have_the_parameters_dtype(kind):
    attn = nn.Attention(4, 4, kind)
    q, k = mg.zeros(2, 4), mg.zeros(2, 3, 4)
    with pytest.raises(TypeError, match="Attention: query has dtype float64 but the parameters are float32"):
        attn(q.astype(np.float64), k)
    with pytest.raises(TypeError, match="Attention: keys has dtype float64 but the parameters are float32"):
        attn(q, k.astype(np.float64))
    assert attn(q, k)[0].dtype == np.float32


def test_dot_attention_needs_query_and_keys_of_one_dtype():
    attn = nn.Attention(4, 4, "dot")
    with pytest.raises(TypeError, match="Attention: query has dtype float32 but the keys are float64"):
        attn(mg.zeros(2, 4), mg.zeros(2, 3, 4, dtype=np.float64))
    assert attn(mg.zeros(2, 4, dtype=np.float64), mg.zeros(2, 3, 4, dtype=np.float64))[0].dtype == np.float64


@pytest.mark.parametrize("mask", [np.array([[0.0, 0.0, -np.inf]], np.float32),  # PyTorch's additive mask
                                  np.array([[1.0, 1.0, 0.5]]), np.array([[1, 1, 0]]),
                                  mg.tensor(np.array([[1.0, 1.0, 0.0]]))])
def test_a_mask_that_is_not_bool_is_a_type_error(mask):
    attn = nn.Attention(2, 2, "dot")
    q, k = mg.zeros(1, 2), mg.zeros(1, 3, 2)
    dtype = (mask.data if isinstance(mask, mg.Tensor) else mask).dtype
    with pytest.raises(TypeError, match=f"mask must be a bool array, True where a key may be attended to.*"
                                        f"got dtype {dtype}"):
        attn(q, k, mask)
    _, weights = attn(q, k, mg.tensor(np.array([[True, True, False]])))  # a bool Tensor is fine
    np.testing.assert_array_equal(weights.data, [[0.5, 0.5, 0.0]])


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Attention(3, 3, "concat", hidden_size=0), "Attention: hidden_size must be a positive int, got 0"),
    (lambda: nn.Attention(0, 3, "general"), "Attention: query_size must be a positive int, got 0"),
    (lambda: nn.Attention(3, 2.5, "general"), "Attention: key_size must be a positive int, got 2.5"),
    (lambda: nn.Attention(-1, -1, "dot"), "Attention: query_size must be a positive int, got -1"),
    (lambda: nn.Attention(3, 3, "dot", rng=5), "Attention: rng must be a numpy.random.Generator, got int"),
])
def test_bad_arguments_name_the_attention_argument(make, message):
    """hidden_size=0 silently meant query_size (``hidden_size or query_size``),
    a bad query/key size was reported as Linear's ``out_features``, and the
    'dot' kind (no parameters to draw) took any size and any rng at all."""
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("kind", KINDS)
def test_projected_keys_must_match_the_keys(kind):
    """projected_keys of another batch size broadcast against the query: every
    sentence silently attended with the first sentence's projection."""
    attn, q, k = setup(kind, 0)
    right = attn.project_keys(k)
    np.testing.assert_array_equal(attn(q, k, projected_keys=right)[1].data, attn(q, k)[1].data)
    with pytest.raises(ValueError, match=r"Attention: projected_keys must have shape \(2, 4, 3\) "
                                         r"\(project_keys\(keys\)\), got \(1, 4, 3\)"):
        attn(q, k, projected_keys=right[:1])
    with pytest.raises(TypeError, match="Attention: projected_keys has dtype float32"):
        attn(q, k, projected_keys=right.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int64, bool])
def test_dot_attention_refuses_integer_and_bool_inputs(dtype):
    """'dot' checked only that the query had the keys' dtype: integer (or bool)
    query and keys were silently cast and gave float32 results, where every
    other layer asks for floating point."""
    with pytest.raises(TypeError, match=f"Attention: keys has dtype {np.dtype(dtype)}.*floating point"):
        nn.Attention(3, 3, "dot")(np.ones((2, 3), dtype), np.ones((2, 4, 3), dtype))
