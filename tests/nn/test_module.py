"""nn.Module: registration, dotted names, state_dict round trips, modes, dtype."""

import numpy as np
import pytest

import minigrad as mg
import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 4)
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Dropout(0.5)])
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))
        self.register_buffer("steps", np.zeros(()))

    def forward(self, x):
        return self.layers[0](self.inner(x)) * self.scale


def test_named_parameters_are_dotted_and_in_registration_order():
    names = [n for n, _ in Block().named_parameters()]
    assert names == ["scale", "inner.weight", "inner.bias", "layers.0.weight", "layers.0.bias"]


def test_state_dict_keys_include_buffers_per_module():
    assert list(Block().state_dict()) == ["scale", "steps", "inner.weight", "inner.bias",
                                          "layers.0.weight", "layers.0.bias"]


def test_shared_parameter_is_counted_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2


def test_state_dict_round_trip_gives_identical_outputs():
    mg.manual_seed(0)
    a, b = Block(), Block()
    x = mg.randn(2, 3)
    a.eval(), b.eval()
    assert not np.allclose(a(x).data, b(x).data)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_state_dict_is_a_copy():
    m = nn.Linear(2, 2)
    state = m.state_dict()
    state["weight"][...] = 7
    assert not np.any(m.weight.data == 7)


def test_failed_load_lists_every_problem_and_changes_nothing():
    m = Block()
    before = m.state_dict()
    bad = dict(before)
    del bad["inner.bias"]
    bad["layers.0.weight"] = np.zeros((5, 5))
    bad["inner.weight"] = np.full((4, 3), 9.0)
    bad["surprise"] = np.zeros(1)
    with pytest.raises(ValueError) as error:
        m.load_state_dict(bad)
    message = str(error.value)
    assert "missing keys: ['inner.bias']" in message
    assert "unexpected keys: ['surprise']" in message
    assert "layers.0.weight: checkpoint (5, 5), model (4, 4)" in message
    for key, value in m.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_non_strict_load_reports_missing_and_unexpected():
    m = nn.Linear(2, 2)
    missing, unexpected = m.load_state_dict({"weight": np.eye(2), "extra": 1.0}, strict=False)
    assert missing == ["bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(m.weight.data, np.eye(2))


def test_train_eval_propagate():
    m = Block()
    m.eval()
    assert not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())


def test_zero_grad_and_to_float64():
    m = nn.Linear(3, 2)
    m(mg.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad()
    assert m.weight.grad is None
    m.to(np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    with pytest.raises(TypeError, match="float dtype"):
        m.to(np.int32)


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_repr_shows_the_tree():
    text = repr(Block())
    assert "(inner): Linear(in_features=3, out_features=4, bias=True)" in text
    assert "(layers): ModuleList(" in text
