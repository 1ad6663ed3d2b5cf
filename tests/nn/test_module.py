"""nn.Module: registration, dotted names, state_dict round trips, modes, dtype."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_a_shared_parameter_is_in_the_state_dict_under_every_name_as_in_pytorch():
    """Tied weights (an output layer sharing the embedding's weight) were listed once, under the first
    name: PyTorch lists every name, so a PyTorch checkpoint failed a strict load here ("unexpected key")
    and ours one in PyTorch ("missing key"). Every name now; loading needs one of them, and two names
    of one parameter with different values are refused before anything changes."""

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.out = nn.Embedding(5, 3), nn.Linear(3, 5)
            self.out.weight = self.embedding.weight

    mg.manual_seed(0)
    source, target = Tied(), Tied()
    saved = source.state_dict()
    assert list(saved) == ["embedding.weight", "out.weight", "out.bias"]
    target.load_state_dict(saved)
    assert target.out.weight is target.embedding.weight
    np.testing.assert_array_equal(target.out.weight.data, source.embedding.weight.data)
    target.load_state_dict({k: v for k, v in saved.items() if k != "out.weight"})  # (one name, as before)
    before = {k: v.copy() for k, v in target.state_dict().items()}
    clashing = dict(saved, **{"out.weight": saved["out.weight"] + 1, "out.bias": saved["out.bias"] + 1})
    with pytest.raises(ValueError, match="out.weight: differs from embedding.weight, another name of the same"):
        target.load_state_dict(clashing)
    assert all(np.array_equal(before[k], v) for k, v in target.state_dict().items())
    layer = nn.Linear(2, 2)
    assert list(nn.Sequential(layer, layer).state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert len(list(nn.Sequential(layer, layer).parameters())) == 2


def test_a_shared_complex_buffer_holding_nan_loads_back():
    """A shared module's complex buffer with a NaN: state_dict() lists it under both names, and its own
    load_state_dict refused it ("b.z: differs from a.z"): NaN compared equal only in real floats."""

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("z", np.array([1 + 1j, complex(np.nan, 0.0)]))

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Holder()
            self.b = self.a

    model = Shared()
    assert model.load_state_dict(model.state_dict()) == ([], [])


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


def test_to_refuses_what_is_not_a_float_dtype():
    """m.to(None) cast the model to float64 (np.dtype(None)) without a word."""
    m = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    with pytest.raises(TypeError, match="to: dtype must be a float dtype, got None"):
        m.to(None)
    assert all(p.dtype == np.float32 for p in m.parameters())


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


def assert_unchanged(module, before):
    after = module.state_dict()
    assert after.keys() == before.keys()
    for key, value in after.items():
        assert value.dtype == before[key].dtype
        np.testing.assert_array_equal(value, before[key])


def test_string_entry_after_a_valid_one_is_a_type_error_and_changes_nothing():
    m = nn.Linear(3, 4)
    before = m.state_dict()
    state = {"weight": np.full((4, 3), 7.0), "bias": np.array(["a", "b", "c", "d"])}  # valid weight first
    with pytest.raises(TypeError, match=r"bias: checkpoint dtype <U1 does not load into float32"):
        m.load_state_dict(state)
    assert_unchanged(m, before)


@pytest.mark.parametrize("bad", [np.ones(4, dtype=np.complex128), np.array([None] * 4, dtype=object),
                                 np.array([b"x"] * 4)])
def test_complex_object_and_bytes_entries_are_type_errors(bad):
    m = nn.Linear(3, 4)
    before = m.state_dict()
    with pytest.raises(TypeError, match=f"bias: checkpoint dtype {bad.dtype}"):
        m.load_state_dict({"weight": np.zeros((4, 3)), "bias": bad})
    assert_unchanged(m, before)


def test_every_bad_dtype_is_listed_in_one_error():
    m = Block()
    state = m.state_dict()
    state["scale"] = np.ones(4, dtype=np.complex64)
    state["inner.bias"] = np.array(["x"] * 4)
    with pytest.raises(TypeError) as error:
        m.load_state_dict(state)
    assert "scale: checkpoint dtype complex64" in str(error.value)
    assert "inner.bias: checkpoint dtype <U1" in str(error.value)


def test_non_finite_parameters_are_rejected_but_buffers_may_hold_inf():
    m = Block()
    before = m.state_dict()
    state = dict(before)
    state["inner.weight"] = np.full((4, 3), 2.0)
    state["layers.0.bias"] = np.array([0.0, np.nan, np.inf, 1.0])
    with pytest.raises(ValueError, match=r"layers.0.bias: 2 of 4 values are NaN or inf"):
        m.load_state_dict(state)
    assert_unchanged(m, before)
    state["layers.0.bias"] = np.array([0.0, 1e39, 0.0, 0.0])  # finite in float64, inf in the float32 parameter
    with pytest.raises(ValueError, match="1 of 4 values are NaN or inf in float32"):
        m.load_state_dict(state)
    state["layers.0.bias"] = np.zeros(4)
    state["steps"] = np.array(np.inf)  # a float buffer: stored as it is
    m.load_state_dict(state)
    assert m.state_dict()["steps"] == np.inf


def test_integer_buffers_take_integers_that_fit_only():
    m = nn.Module()
    m.register_buffer("counts", np.zeros(3, dtype=np.uint8))
    with pytest.raises(TypeError, match="float64 does not load into uint8"):
        m.load_state_dict({"counts": np.array([1.0, 2.0, 3.0])})
    with pytest.raises(ValueError, match="outside the range of uint8"):
        m.load_state_dict({"counts": np.array([1, 300, 3])})
    np.testing.assert_array_equal(m.state_dict()["counts"], [0, 0, 0])
    m.load_state_dict({"counts": np.array([1, 255, 3])})
    np.testing.assert_array_equal(m.state_dict()["counts"], [1, 255, 3])


def test_ints_bools_and_float64_load_into_float32_parameters():
    m = nn.Linear(2, 2)
    m.load_state_dict({"weight": np.array([[1, 0], [0, 1]]), "bias": np.array([True, False])})
    assert m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.data, np.eye(2))
    np.testing.assert_array_equal(m.bias.data, [1.0, 0.0])
    m.load_state_dict({"weight": [[0.5, 0.25], [1.0, 2.0]], "bias": mg.tensor(np.zeros(2))})
    np.testing.assert_array_equal(m.weight.data, [[0.5, 0.25], [1.0, 2.0]])


def test_ragged_entry_is_a_type_error():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="bias: not an array"):
        m.load_state_dict({"weight": np.eye(2), "bias": [[1.0], [1.0, 2.0]]})


@given(st.data())
def test_any_one_bad_entry_among_good_ones_changes_nothing(data):
    m = Block()
    before = m.state_dict()
    state = {key: np.full_like(value, 3) for key, value in before.items()}  # all valid, all different
    key = data.draw(st.sampled_from([k for k in state if k != "steps"]))  # a parameter
    shape = state[key].shape
    bad = data.draw(st.sampled_from([
        np.full(shape, "s"), np.zeros(shape, dtype=np.complex128), np.full(shape, None, dtype=object),
        np.full(shape, np.nan), np.zeros(shape + (1,)), np.zeros(shape[:-1])]))
    state[key] = bad
    with pytest.raises((TypeError, ValueError), match=key.replace(".", r"\.")):
        m.load_state_dict(state)
    assert_unchanged(m, before)


class OptionalBias(nn.Module):
    """The PyTorch idiom: a plain default first, then maybe a Parameter / Module under the same name."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.ones((2, 2)))
        self.bias = None
        self.bias = nn.Parameter(np.full(2, 10.0))
        self.head = None
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        return x @ self.weight.T + self.bias


def test_parameter_or_module_assigned_over_a_plain_attribute_replaces_it():
    m = OptionalBias()
    assert m.bias is m._parameters["bias"] and m.head is m._modules["head"]
    assert "bias" not in m.__dict__ and "head" not in m.__dict__
    out = m(mg.tensor(np.array([[1.0, 2.0]])))
    np.testing.assert_array_equal(out.data, [[13.0, 13.0]])  # the new bias is used...
    out.sum().backward()
    np.testing.assert_array_equal(m.bias.grad.data, [1.0, 1.0])  # ...and trained
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "head.weight", "head.bias"]


def test_non_parameter_over_a_parameter_is_a_type_error_and_changes_nothing():
    lin = nn.Linear(2, 2)
    weight, before = lin.weight, lin.state_dict()
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight' \(nn.Parameter or None"):
        lin.weight = mg.tensor(np.eye(2, dtype=np.float32), requires_grad=True)
    assert lin.weight is weight
    assert_unchanged(lin, before)


def test_none_over_a_parameter_keeps_the_name_registered_and_empty():
    lin = nn.Linear(2, 2)
    lin.bias = None
    assert lin.bias is None and "bias" in lin._parameters and "bias" not in lin.__dict__
    assert list(lin.state_dict()) == ["weight"] and len(list(lin.parameters())) == 1
    with pytest.raises(TypeError, match="cannot assign int as parameter 'bias'"):
        lin.bias = 0
    lin.bias = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert list(lin.state_dict()) == ["weight", "bias"]


def test_non_module_over_a_module_is_a_type_error_but_none_empties_it():
    m = OptionalBias()
    head = m.head
    with pytest.raises(TypeError, match=r"cannot assign str as module 'head' \(nn.Module or None"):
        m.head = "linear"
    assert m.head is head
    m.head = None
    assert m.head is None and [n for n, _ in m.named_parameters()] == ["weight", "bias"]


def test_assigning_to_a_buffer_updates_it_and_only_takes_arrays():
    m = Block()
    m.steps = m.steps + 1  # a NumPy scalar: stored as a 0-d array
    assert m.state_dict()["steps"] == 1.0 and isinstance(m.steps, np.ndarray)
    with pytest.raises(TypeError, match=r"cannot assign list as buffer 'steps' \(a NumPy array, a Tensor or None"):
        m.steps = [2.0]
    assert m.state_dict()["steps"] == 1.0


def test_a_buffer_takes_a_tensor_when_assigned_as_when_registered():
    """register_buffer("steps", tensor) stored its array, but m.steps = tensor then was a TypeError."""
    m = Block()
    m.register_buffer("mean", mg.tensor([1.0, 2.0]))
    m.mean = mg.tensor([3.0, 4.0], requires_grad=True)
    assert type(m.mean) is np.ndarray and m.mean.dtype == np.float32
    np.testing.assert_array_equal(m.state_dict()["mean"], [3.0, 4.0])


def test_to_casts_the_gradients_too_so_a_step_after_it_still_updates():
    """As PyTorch's Module.to: dropping the gradients made the next optimiser step a silent no-op."""
    m = nn.Linear(3, 2)
    m(mg.randn(4, 3)).sum().backward()
    grad = m.weight.grad.data.copy()
    opt = nn.optim.SGD(m.parameters(), lr=1.0)
    m.to(np.float64)
    assert m.weight.grad.dtype == np.float64
    np.testing.assert_array_equal(m.weight.grad.data, grad)
    before = m.weight.data.copy()
    opt.step()
    np.testing.assert_array_equal(m.weight.data, before - grad)


def test_to_leaves_integer_parameters_and_buffers_alone():
    m = Block()
    m.ids = nn.Parameter(np.arange(3), requires_grad=False)
    m.register_buffer("counts", np.arange(2))
    m.to(np.float64)
    assert m.ids.dtype == np.int64 and m.counts.dtype == np.int64 and m.scale.dtype == np.float64


@pytest.mark.parametrize("mode", ["eval", "False", None, 0.0, [False]])
def test_train_takes_only_a_bool(mode):
    """train("eval") (or "False") put the model in training mode: bool() of any non-empty string is True."""
    m = Block().eval()
    with pytest.raises(TypeError, match="train: mode must be True or False"):
        m.train(mode)
    assert not any(sub.training for sub in m.modules())
    assert m.train(np.bool_(True)) is m and all(sub.training for sub in m.modules())


@pytest.mark.parametrize("register", [
    lambda m, name: m.register_parameter(name, nn.Parameter(np.full((1, 1), 9.0))),
    lambda m, name: m.register_buffer(name, np.zeros(1)),
    lambda m, name: setattr(m, name, nn.Parameter(np.full((1, 1), 9.0))),
    lambda m, name: setattr(m, name, nn.Linear(1, 1))])
@pytest.mark.parametrize("name", ["inner.weight", "", "training"])
def test_a_name_state_dict_could_not_tell_apart_is_refused(register, name):
    """register_parameter("inner.weight", p) beside the sub-module inner's own weight gave two parameters
    one state_dict key: the checkpoint silently lacked one of them."""
    m = Block()
    before = list(m.state_dict())
    with pytest.raises(ValueError, match=f"Block: {name!r} cannot name a"):
        register(m, name)
    assert list(m.state_dict()) == before and m.training is True


def test_a_name_must_be_a_string():
    with pytest.raises(TypeError, match="Block: a buffer's name must be a str, got int 3"):
        Block().register_buffer(3, np.zeros(1))


def test_load_state_dict_strict_takes_only_a_bool():
    """strict="" (or 0.0, None) loaded non-strictly and strict="False" strictly: bool() of the value."""
    lin = nn.Linear(2, 2)
    weight = lin.weight.data.copy()
    for strict in ("", None, "False"):
        with pytest.raises(TypeError, match="load_state_dict: strict must be True or False"):
            lin.load_state_dict({"weight": np.zeros((2, 2))}, strict=strict)
    np.testing.assert_array_equal(lin.weight.data, weight)


@pytest.mark.parametrize("value", [np.array(["a", "b"]), "abc", {"a": 1}, np.array([object()])])
@pytest.mark.parametrize("how", ["register", "assign"])
def test_a_buffer_holds_numbers_only(value, how):
    """register_buffer("x", "abc") stored a string array (a dict: an object array that load_state_dict
    filled with anything): the state_dict held what nn.save refuses, found only at the checkpoint."""
    m = Block()
    with pytest.raises(TypeError, match="Block: buffer 'steps' must hold numbers, got "):
        if how == "register":
            m.register_buffer("steps", value)
        else:
            m.steps = value if isinstance(value, np.ndarray) else np.asarray(value)
    assert m.steps.dtype == np.float64 and "steps" in m.state_dict()


def test_replacing_a_parameter_or_sub_module_keeps_its_place():
    """As in PyTorch (a dict assignment): the replacement moved to the end, so a Sequential whose "0"
    was replaced ran its layers in another order, s[0] became the old "1", and parameters() (the
    optimiser's numbering) changed order."""
    s = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 3))
    setattr(s, "0", nn.Linear(1, 2))
    assert list(s.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert s(np.ones((1, 1), np.float32)).shape == (1, 3)
    lin = nn.Linear(2, 3)
    lin.weight = nn.Parameter(np.zeros((3, 2), np.float32))
    lin.register_parameter("bias", nn.Parameter(np.zeros(3, np.float32)))
    m = Block()
    m.register_buffer("steps", np.ones(()))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert list(m.state_dict())[:2] == ["scale", "steps"]


def test_children_lists_a_shared_sub_module_once():
    """As PyTorch's children() (and this named_modules()): a sub-module registered under two names
    was yielded twice, so a loop over the children (initialising them, say) ran on it twice."""
    m = nn.Module()
    m.a, m.b = nn.Linear(1, 1), nn.Linear(1, 1)
    m.alias = m.a
    assert [id(c) for c in m.children()] == [id(m.a), id(m.b)]


def test_a_slice_of_a_sequential_or_module_list_is_one_too():
    """As in PyTorch: Sequential(a, b, c)[1:] was a list (no forward, no state_dict); now a Sequential
    of the same modules (not copies) that runs them in order, numbered from "0"."""
    a, b, c = nn.Linear(2, 3), nn.Linear(3, 4), nn.Linear(4, 5)
    tail = nn.Sequential(a, b, c)[1:]
    assert type(tail) is nn.Sequential and list(tail) == [b, c]
    assert list(tail.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(tail(x).data, c(b(x)).data)
    layers = nn.ModuleList([a, b, c])
    assert type(layers[::2]) is nn.ModuleList and list(layers[::2]) == [a, c] and list(layers[5:]) == []
    assert layers[-1] is c


@given(st.lists(st.tuples(st.sampled_from(["append", "extend", "insert", "setitem", "delitem"]),
                          st.integers(-4, 4), st.integers(0, 2)), max_size=8))
def test_module_list_edits_as_a_python_list_does(edits):
    """ModuleList lacked insert, extend and item assignment (and del), which PyTorch's has: each edit
    must leave the modules in a plain list's order, named "0", "1", ... (insert renumbers, as PyTorch)."""
    pool = [nn.Linear(1, 1) for _ in range(12)]
    layers, reference = nn.ModuleList(pool[:3]), pool[:3]
    for step, (edit, index, count) in enumerate(edits):
        new = pool[step % len(pool)]
        if edit == "append":
            layers.append(new), reference.append(new)
        elif edit == "extend":
            layers.extend(iter(pool[:count])), reference.extend(pool[:count])
        elif edit == "insert":
            layers.insert(index, new), reference.insert(index, new)
        elif -len(reference) <= index < len(reference):
            if edit == "setitem":
                layers[index], reference[index] = new, new
            else:
                del layers[index], reference[index]
        else:
            with pytest.raises(IndexError):
                layers.__setitem__(index, new) if edit == "setitem" else layers.__delitem__(index)
        assert list(layers) == reference
        assert list(layers.state_dict()) == [f"{i}.{p}" for i in range(len(reference)) for p in ("weight", "bias")]


def test_module_list_edits_take_only_modules_and_change_nothing_else():
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    layers = nn.ModuleList([a])
    for edit in (lambda: layers.extend([b, "relu"]), lambda: layers.insert(0, None),
                 lambda: layers.__setitem__(0, np.zeros(1))):
        with pytest.raises(TypeError, match="ModuleList holds Modules, got "):
            edit()
    with pytest.raises(TypeError):
        layers[0:1] = [b]
    assert list(layers) == [a]
    del layers[:]
    assert len(layers) == 0 and layers.state_dict() == {}


def test_buffers_and_named_buffers_recurse_as_pytorch():
    """Module.buffers() did not exist and named_buffers() took no recurse=; both now as PyTorch's
    (recurse=True by default, depth first, an array registered twice once)."""
    m = Block()
    m.register_buffer("counts", np.arange(2))
    m.inner.register_buffer("seen", np.zeros(1))
    m.layers[1].register_buffer("shared", m.counts)
    names = ["steps", "counts", "inner.seen"]
    assert [n for n, _ in m.named_buffers()] == names
    assert [id(b) for b in m.buffers()] == [id(m.steps), id(m.counts), id(m.inner.seen)]
    assert [n for n, _ in m.named_buffers(recurse=False)] == names[:2]
    assert [id(b) for b in m.buffers(recurse=False)] == [id(m.steps), id(m.counts)]
    assert [n for n, _ in m.inner.named_buffers(prefix="inner")] == ["inner.seen"]


def test_a_module_whose_init_skips_super_init_says_so_when_used():
    """A layer whose __init__ assigns nothing and forgets super().__init__():
    parameters(), state_dict(), named_modules() and the mode failed with
    "'NoInit' has no attribute '_parameters'" (or '_modules', 'training'),
    naming nothing to do; now each says to call super().__init__(). (An
    assignment in __init__ already said so.)"""

    class NoInit(nn.Module):
        def __init__(self):
            self.size = None  # a plain attribute first: the assignment check catches it

    with pytest.raises(AttributeError, match=r"NoInit: call super\(\).__init__\(\)"):
        NoInit()

    class Bare(nn.Module):
        def __init__(self):
            pass

    for use in (lambda m: list(m.parameters()), lambda m: m.state_dict(), lambda m: list(m.named_modules()),
                lambda m: m.training, lambda m: list(m.buffers())):
        with pytest.raises(AttributeError, match=r"Bare has no '\w+': its __init__ must call super\(\).__init__\(\)"):
            use(Bare())
    with pytest.raises(AttributeError, match="'Lin' has no attribute 'missing'"):
        _ = type("Lin", (nn.Linear,), {})(2, 2).missing


def test_a_sequential_given_a_non_module_names_itself_and_the_value():
    """nn.Sequential(nn.Linear(2, 2), F.relu) -- a function, as one may pass
    in Keras -- said 'ModuleList holds Modules, got function': the wrong
    class, and not which value. Now it names Sequential and the value."""
    with pytest.raises(TypeError, match=r"Sequential holds Modules, got function <function relu.*wrap a function"):
        nn.Sequential(nn.Linear(2, 2), mg.relu)
    with pytest.raises(TypeError, match=r"^ModuleList holds Modules, got str 'tanh'$"):
        nn.ModuleList([nn.Tanh()]).append("tanh")
