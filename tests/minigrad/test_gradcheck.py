"""gradcheck catches wrong VJPs and says where; custom Functions; anomaly detection."""

import numpy as np
import pytest

import minigrad as mg


class Softplus(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * mg.sigmoid(x)


class WrongSoftplus(Softplus):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * mg.sigmoid(x) * np.array([1.0, 1.0, 1.5, 1.0])  # element 2 off by half


class FrozenSoftplus(Softplus):
    """Right to first order, but the saved value is used as a constant, so the second derivative is lost."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * mg.sigmoid(x.detach())


X = np.array([-1.0, 0.5, 2.0, -0.3])


def test_correct_function_passes_both_orders():
    x = mg.tensor(X, requires_grad=True)
    assert mg.gradcheck(Softplus.apply, [x])
    assert mg.gradgradcheck(Softplus.apply, [x])
    assert mg.gradcheck(Softplus.apply, [x], fast_mode=True)


@pytest.mark.parametrize("fast_mode", [False, True])
def test_gradcheck_under_no_grad_checks_the_gradient(fast_mode):
    """Called under no_grad, gradcheck recorded nothing and blamed a correct
    function: 'wrong gradient ... analytic 0' (the transforms, gradgradcheck
    too, switch recording on for what they differentiate)."""
    x = mg.tensor(X, requires_grad=True)
    with mg.no_grad():
        assert mg.gradcheck(Softplus.apply, [x], fast_mode=fast_mode)
        assert not mg.is_grad_enabled()
        with pytest.raises(mg.GradcheckError, match="element \\(2,\\)"):
            mg.gradcheck(WrongSoftplus.apply, [x], fast_mode=fast_mode)


def test_wrong_vjp_is_caught_with_input_and_element_named():
    x = mg.tensor(X, requires_grad=True)
    message = r"input 0 \(shape \(4,\)\) at element \(2,\).*analytic 1\.32.*numeric "
    with pytest.raises(mg.GradcheckError, match=message):
        mg.gradcheck(WrongSoftplus.apply, [x])
    assert mg.gradcheck(WrongSoftplus.apply, [x], raise_exception=False) is False
    with pytest.raises(mg.GradcheckError, match="element \\(2,\\)"):
        mg.gradcheck(WrongSoftplus.apply, [x], fast_mode=True)


def test_second_order_mistake_is_caught_by_gradgradcheck_only():
    x = mg.tensor(X, requires_grad=True)
    assert mg.gradcheck(FrozenSoftplus.apply, [x])
    with pytest.raises(mg.GradcheckError, match="gradgradcheck"):
        mg.gradgradcheck(FrozenSoftplus.apply, [x])


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        mg.gradcheck(mg.tanh, [mg.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="nothing to check"):
        mg.gradcheck(mg.tanh, [mg.tensor([1.0])])


def test_function_backward_returning_too_many_gradients_is_named():
    class Bad(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    with pytest.raises(RuntimeError, match=r"Bad.backward returned 2 gradient\(s\) for 1 input\(s\)"):
        Bad.apply(mg.tensor([1.0], requires_grad=True)).sum().backward()


def test_anomaly_in_a_custom_function_names_it():
    class NaNGrad(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, grad):
            return grad * np.nan

    x = mg.tensor([1.0], requires_grad=True, dtype=np.float64)
    with mg.detect_anomaly(), pytest.raises(RuntimeError, match="'NaNGrad'.*created at .*test_gradcheck.py"):
        NaNGrad.apply(x).sum().backward()
