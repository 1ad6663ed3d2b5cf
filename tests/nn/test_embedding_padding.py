"""F.embedding's padding_idx: the padding row's gradient is cut in the table
(at least as many ids as rows) or in the output (fewer); both give the plain
lookup's values and the brute-force gradient with the padding row zeroed,
outside and inside a traced scan step."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from nn import functional as F


def brute_force_gradient(ids: np.ndarray, upstream: np.ndarray, rows: int, padding: int) -> np.ndarray:
    grad = np.zeros((rows, upstream.shape[-1]))
    for i, g in zip(ids.reshape(-1), upstream.reshape(-1, upstream.shape[-1])):
        if i != padding:
            grad[i] += g
    return grad


@given(st.data(), st.integers(1, 6), st.integers(0, 12), st.integers(1, 3))
def test_values_and_gradient_equal_brute_force_on_both_paths(data, rows, count, width):
    """count < rows cuts in the output, count >= rows in the table; ids repeat, may be empty."""
    ids = np.array(data.draw(st.lists(st.integers(0, rows - 1), min_size=count, max_size=count)), dtype=np.int64)
    padding = data.draw(st.integers(-rows, rows - 1))
    rng = np.random.default_rng(count)
    table = mg.tensor(rng.standard_normal((rows, width)), requires_grad=True)
    upstream = rng.standard_normal((count, width))
    out = F.embedding(ids, table, padding_idx=padding)
    np.testing.assert_array_equal(out.data, table.data[ids])
    (grad,) = mg.grad((out * mg.tensor(upstream)).sum(), [table], allow_unused=True)
    want = brute_force_gradient(ids, upstream, rows, padding % rows)
    np.testing.assert_allclose(np.zeros_like(want) if grad is None else grad.data, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("count", [2, 9])  # fewer ids than rows (cut in the output), more (cut in the table)
def test_gradcheck_of_the_other_rows_on_both_paths(count):
    """The padding row as a constant between the rows that learn: exactly what padding_idx means."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, (count, 1))
    ids[0] = 3
    learning = mg.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    padding_row = mg.tensor(rng.standard_normal((1, 2)))
    table = lambda t: mg.concat([t[:3], padding_row, t[3:]])
    assert mg.gradcheck(lambda t: F.embedding(ids, table(t), padding_idx=3) ** 2, [learning])


@pytest.mark.parametrize("per_step", [2, 6])  # per step fewer ids than the 4 rows, and more
def test_inside_a_scan_step_equals_the_loop(per_step):
    rng = np.random.default_rng(1)
    table = mg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    ids = mg.tensor(rng.integers(0, 4, (5, per_step)))

    def step(total, step_ids):
        return total + (F.embedding(step_ids, table, padding_idx=-1) ** 2).sum(), None

    results = []
    for unroll in (False, True):
        total, _ = mg.scan(step, mg.tensor(0.0, dtype=np.float64), ids, unroll=unroll)
        results.append((total.data, mg.grad(total, [table])[0].data))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)
    assert not results[0][1][3].any()


def test_bad_padding_idx_is_a_clear_error():
    table = mg.zeros(4, 2)
    for bad in (4, -5):
        with pytest.raises(ValueError, match=r"embedding: padding_idx must lie in \[-4, 4\), got"):
            F.embedding(np.array([0]), table, padding_idx=bad)
    for bad in (1.0, True, "0"):  # the same check as nn.Embedding's
        with pytest.raises(TypeError, match=r"embedding: padding_idx must be an int, got"):
            F.embedding(np.array([0]), table, padding_idx=bad)


@pytest.mark.parametrize("padding", [None, 0])
@pytest.mark.parametrize("count", [2, 4])  # fewer ids than rows, and more
def test_a_table_that_is_not_a_tensor_is_taken_as_one(padding, count):
    """A NumPy table failed with "'numpy.ndarray' object has no attribute 'detach'" when padding_idx cut the
    gradient in the table (at least as many ids as rows); a list table with "'list' object has no attribute
    'ndim'", on every path."""
    rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    ids = np.arange(count) % 3
    for table in (np.array(rows), rows):
        out = F.embedding(ids, table, padding_idx=padding)
        assert isinstance(out, mg.Tensor)
        np.testing.assert_array_equal(out.data, np.array(rows)[ids])
