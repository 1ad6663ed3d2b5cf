"""Dtype rules, creation helpers, seeding, small Tensor API."""

import numpy as np

import minigrad as mg


def test_default_dtype_and_python_scalars_keep_float32():
    x = mg.tensor([1.0, 2.0])
    assert x.dtype == np.float32
    assert (x * 2.0).dtype == np.float32 and (2.5 - x).dtype == np.float32 and (x / np.float64(3)).dtype == np.float32
    assert mg.tensor(np.array([1.0])).dtype == np.float64  # arrays keep theirs
    mg.set_default_dtype(np.float64)
    try:
        assert mg.tensor([1.0]).dtype == np.float64 and mg.zeros(2).dtype == np.float64
    finally:
        mg.set_default_dtype(np.float32)


def test_manual_seed_repeats_draws():
    mg.manual_seed(3)
    a = mg.randn(4).data
    mg.manual_seed(3)
    np.testing.assert_array_equal(a, mg.randn(4).data)
    np.testing.assert_array_equal(mg.randn(4, rng=np.random.default_rng(1)).data,
                                  mg.randn(4, rng=np.random.default_rng(1)).data)


def test_small_api():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.shape == (2, 2) and x.ndim == 2 and len(x) == 2 and x.T.data[0, 1] == 3.0
    assert x.sum().item() == 10.0 and isinstance(x.numpy(), np.ndarray)
    d = (x * 2).detach()
    assert not d.requires_grad and d._node is None
    assert "requires_grad=True" in repr(x)
    assert mg.arange(3).dtype.kind == "i" and mg.arange(0, 1, 0.5).dtype == np.float32
    assert (mg.tensor([1.0, 3.0]) > 2).data.tolist() == [False, True]
