"""Dtype rules, creation helpers, seeding, small Tensor API."""

import hypothesis
import numpy as np
import pytest

import minigrad as mg
from minigrad import testing as mt


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


@pytest.mark.parametrize("dtype, shown", [(None, "None"), (1.0, "1.0"), (np.float16, "float16"), ("int32", "int32")])
def test_set_default_dtype_refuses_what_is_not_float32_or_float64(dtype, shown):
    """None once set float64 (NumPy reads np.dtype(None) as float64), and a
    value that is no dtype got NumPy's message, without the function's name."""
    with pytest.raises(TypeError, match=rf"set_default_dtype: dtype must be float32 or float64, got {shown}$"):
        mg.set_default_dtype(dtype)
    assert mg.get_default_dtype() == np.float32


def test_manual_seed_repeats_draws():
    mg.manual_seed(3)
    a = mg.randn(4).data
    mg.manual_seed(3)
    np.testing.assert_array_equal(a, mg.randn(4).data)
    np.testing.assert_array_equal(mg.randn(4, rng=np.random.default_rng(1)).data,
                                  mg.randn(4, rng=np.random.default_rng(1)).data)


@pytest.mark.parametrize("like, draw", [(mg.rand_like, "random"), (mg.randn_like, "standard_normal")])
@pytest.mark.parametrize("x", [np.zeros((2, 3)), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[1, 2, 3], [4, 5, 6]]])
def test_rand_like_of_an_array_or_a_list_is_a_tensor_like_it(like, draw, x):
    """(Of a list they raised AttributeError: 'list' object has no attribute 'shape'; of an array they gave an
    array, where multinomial and mg.rand give Tensors.)"""
    sample = like(x, rng=np.random.default_rng(5))
    expected = getattr(np.random.default_rng(5), draw)((2, 3))
    dtype = np.float64 if isinstance(x, np.ndarray) else np.float32  # an array's float dtype, else the default
    assert isinstance(sample, mg.Tensor) and sample.dtype == dtype and not sample.requires_grad
    np.testing.assert_array_equal(sample.data, expected.astype(dtype))


@pytest.mark.parametrize("make", [mg.rand, mg.randn])
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, bool])
def test_random_samples_need_a_float_dtype(make, dtype):
    """(rand(6, dtype=int64) gave six zeros, dtype=bool six Trues; torch raises.)"""
    with pytest.raises(TypeError, match=f"{make.__name__}: dtype must be a float dtype, got {np.dtype(dtype)}"):
        make(6, dtype=dtype, rng=np.random.default_rng(0))
    assert make(2, dtype=np.float64, rng=np.random.default_rng(0)).dtype == np.float64


@pytest.mark.parametrize("make", [lambda dtype: mg.zeros(2, dtype=dtype), lambda dtype: mg.ones(2, dtype=dtype),
                                  lambda dtype: mg.full(2, 0, dtype=dtype),
                                  lambda dtype: mg.zeros_like(mg.zeros(2), dtype=dtype),
                                  lambda dtype: mg.ones_like(mg.zeros(2), dtype=dtype)])
@pytest.mark.parametrize("dtype", [np.complex128, str])
def test_creation_refuses_dtypes_a_tensor_cannot_hold(make, dtype):
    """(They made complex and string tensors, which mg.tensor refuses.)"""
    with pytest.raises(TypeError, match="dtype must be a bool, integer or float dtype"):
        make(dtype)
    assert make(np.int16).dtype == np.int16 and make(bool).dtype == bool


@pytest.mark.parametrize("value, dtype", [(np.nan, np.int64), (np.inf, np.int32), (2.5, np.int64),
                                          (2 ** 63, np.int64), (-1, np.uint8), (256, np.uint8),
                                          (np.array([1.0, 2.5]), np.int64), ("x", np.int64)])
def test_full_refuses_a_value_an_integer_dtype_cannot_hold(value, dtype):
    """(NaN became -9223372036854775808, 2.5 became 2.)"""
    with pytest.raises(ValueError, match=f"full: value must be whole numbers in .* for dtype {np.dtype(dtype)}"):
        mg.full((2,), value, dtype=dtype)
    assert mg.full((2,), 3.0, dtype=dtype).data.tolist() == [3, 3]
    # an array that broadcasts works, as in NumPy (the first version of the check failed on it: found by review)
    assert mg.full((2, 2), np.array([1, 2]), dtype=dtype).data.tolist() == [[1, 2], [1, 2]]


@pytest.mark.parametrize("value, dtype", [(1e300, np.float32), (-1e39, np.float32), (np.array([1.0, 1e39]), np.float32),
                                          (70000, np.float16), (2 ** 200, np.float32), (1.7e308, np.float32)])
def test_full_refuses_a_finite_value_that_overflows_a_float_dtype(value, dtype):
    """(full(3, 1e300, dtype=float32) was [inf, inf, inf], with only NumPy's RuntimeWarning; torch raises.)"""
    with pytest.raises(ValueError, match=f"full: value overflows dtype {np.dtype(dtype)}"):
        mg.full((2,), value, dtype=dtype)
    largest = float(np.finfo(dtype).max)  # what fits is kept, infinities and NaN are taken as they are
    assert mg.full((3,), np.array([largest, np.inf, np.nan]), dtype=dtype).data.tolist()[:2] == [largest, np.inf]
    assert mg.full((2,), 1e300, dtype=np.float64).data.tolist() == [1e300, 1e300]


@pytest.mark.parametrize("low, high, spacing", [(-3.0, -1.3, 0.1), (-3.0, -1.6, 0.01), (-3.0, -1.1, 0.01)])
def test_distinct_arrays_stay_in_their_box(low, high, spacing):
    """(With as many elements as grid points, mt.arrays(low=-3, high=-1.3, spacing=0.1, distinct=True) always
    held -3 + 17·0.1 = -1.2999999999999998 > high.)"""
    size = int((high - low) / spacing) + 1  # every grid point is drawn

    @hypothesis.settings(max_examples=5, database=None, deadline=None)
    @hypothesis.given(mt.arrays((size,), low=low, high=high, spacing=spacing, distinct=True))
    def check(a):
        assert low <= a.min() and a.max() <= high
        assert np.diff(np.sort(a)).min() >= spacing * (1 - 1e-9)

    check()


@pytest.mark.parametrize("flag", ["False", 0, None])
def test_multinomial_replacement_must_be_a_bool(flag):
    """(replacement="False" was taken as true: two draws from [0.5, 0.5] could repeat a class.)"""
    with pytest.raises(TypeError, match=f"multinomial: replacement must be a bool, got {type(flag).__name__}"):
        mg.multinomial([0.5, 0.5], 2, replacement=flag)
    draws = mg.multinomial(np.full((200, 2), 0.5), 2, replacement=np.bool_(False), rng=np.random.default_rng(0))
    assert (np.sort(draws.data, axis=1) == [0, 1]).all()


def test_small_api():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.shape == (2, 2) and x.ndim == 2 and len(x) == 2 and x.T.data[0, 1] == 3.0
    assert x.sum().item() == 10.0 and isinstance(x.numpy(), np.ndarray)
    d = (x * 2).detach()
    assert not d.requires_grad and d._node is None
    assert "requires_grad=True" in repr(x)
    assert mg.arange(3).dtype.kind == "i" and mg.arange(0, 1, 0.5).dtype == np.float32
    assert (mg.tensor([1.0, 3.0]) > 2).data.tolist() == [False, True]


@pytest.mark.parametrize("args", [(0, 5, 0.5), (0.5, 3), (0, np.nan), (0, 3, mg.tensor(0.5))])
def test_arange_with_an_integer_dtype_takes_whole_numbers_only(args):
    """np.arange(0, 5, 0.5, dtype=int) is ten zeros (NumPy works out the step
    in the dtype): mg.arange gave them too, without a word."""
    with pytest.raises(ValueError, match=r"arange: with integer dtype int64, start, stop and step must be whole "
                                         r"numbers, got"):
        mg.arange(*args, dtype=np.int64)
    assert mg.arange(0.0, 6.0, 2.0, dtype=np.int32).data.tolist() == [0, 2, 4]


def test_arange_step_zero_and_a_bad_dtype_are_clear_errors():
    with pytest.raises(ValueError, match="arange: step must not be 0"):
        mg.arange(0, 5, 0)
    with pytest.raises(TypeError, match="arange: dtype must be a bool, integer or float dtype"):
        mg.arange(3, dtype=str)


@pytest.mark.parametrize("make", [mg.zeros, mg.ones, mg.randn, mg.rand,
                                  lambda *shape: mg.full(shape[0] if len(shape) == 1 else shape, 1.0)],
                         ids=["zeros", "ones", "randn", "rand", "full"])
def test_creation_shapes_are_checked_naming_the_function(make):
    """NumPy's own errors named neither the function nor the shape ("negative dimensions are not allowed",
    "'float' object cannot be interpreted as an integer", "'tuple' object ... as an integer")."""
    name = "full" if make.__name__ == "<lambda>" else make.__name__
    with pytest.raises(ValueError, match=rf"{name}: shape must not have negative sizes, got \(2, -1\)"):
        make(2, -1)
    for shape in ((2.0,), (2, (3,)), (True,)):
        with pytest.raises(TypeError, match=rf"{name}: shape must be an int or a sequence of ints"):
            make(*shape)
    assert make(2, 3).shape == make((2, 3)).shape == make([2, 3]).shape == (2, 3)
