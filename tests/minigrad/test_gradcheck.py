"""gradcheck catches wrong VJPs and says where; custom Functions; anomaly detection."""

import re

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


def test_gradgradcheck_wants_one_grad_output_of_the_right_shape_per_output():
    """Fewer grad_outputs than outputs were zipped away: the last outputs'
    second derivatives went unchecked, and a wrong one passed."""
    x = mg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    both = lambda t: (t * 2, FrozenSoftplus.apply(t))  # noqa: E731  (the second is wrong at second order)
    with pytest.raises(mg.GradcheckError):
        mg.gradgradcheck(both, [x])
    v = mg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="got 1 grad_outputs for the 2 outputs of fn"):
        mg.gradgradcheck(both, [x], grad_outputs=[v])
    with pytest.raises(ValueError, match=r"grad_outputs\[1\] has shape \(3,\), output 1 has shape \(2,\)"):
        mg.gradgradcheck(both, [x], grad_outputs=[v, np.ones(3)])


def test_a_float32_output_is_named_when_its_finite_differences_fail():
    """fn computing in float32 failed with 'wrong gradient ... numeric 0.9537'
    for a right gradient, without saying the numeric side was the culprit."""
    x = mg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match="output 0 has dtype float32.*compute fn in float64"):
        mg.gradcheck(lambda t: (t * 1.0001).astype(np.float32), [x])


@pytest.mark.parametrize("check", [mg.gradcheck, mg.gradgradcheck])
@pytest.mark.parametrize("setting", [dict(eps=0), dict(eps=-1e-6), dict(atol=-1), dict(rtol=float("nan")),
                                     dict(eps="1e-6"), dict(atol=True)])
def test_bad_tolerances_are_named_not_blamed_on_the_gradient(check, setting):
    """eps=0 gave 'wrong gradient ... numeric nan', atol=-1 'wrong gradient ...
    analytic 0 vs numeric 0', a str eps NumPy's UFuncTypeError."""
    (name, value), = setting.items()
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(ValueError, match=rf"{check.__name__}: {name} must be .*, got {re.escape(repr(value))}"):
        check(lambda t: t * t, [x], **setting)


def test_gradcheck_of_a_function_that_takes_a_gradient_inside():
    """Its central differences ran fn under no_grad, where mg.grad inside fn
    raised 'the output ... does not require grad (... computed under
    no_grad)': a gradient penalty or a Hessian-vector product could not be checked."""
    x = mg.tensor(np.array([0.5, -1.5]), requires_grad=True)
    gradient = lambda t: mg.grad((t ** 3).sum(), t, create_graph=True)[0]  # noqa: E731
    assert mg.gradcheck(gradient, [x]) and mg.gradcheck(gradient, [x], fast_mode=True)
    wrong = lambda t: mg.grad(FrozenSoftplus.apply(t).sum(), t, create_graph=True)[0]  # noqa: E731
    with pytest.raises(mg.GradcheckError, match="wrong gradient for input 0"):
        mg.gradcheck(wrong, [x])
