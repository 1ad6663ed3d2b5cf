"""Issue 14.2: a backward through a value that was changed in place after it
was saved raises, naming the op -- never a gradient at the new value."""

import numpy as np
import pytest

import minigrad as mg
import nn


def test_backward_after_an_optimiser_step_raises_naming_the_op():
    layer = nn.Linear(2, 1, rng=np.random.default_rng(0))
    x = mg.tensor([[1.0, -2.0]], requires_grad=True)
    loss = (layer(x) ** 2).sum()
    optimizer = nn.optim.SGD(layer.parameters(), lr=0.5)
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="backward through '(matmul|addmm)'.*changed in place"):
        loss.backward()


@pytest.mark.parametrize("change", [
    lambda w: w.__iadd__(1.0),
    lambda w: setattr(w, "data", w.data * 2),
    lambda w: exec("w.data -= 1.0", {"w": w}),
    lambda w: w.detach().__imul__(3.0),  # through a detached alias: it shares the version counter
])
def test_every_in_place_change_through_the_api_is_seen(change):
    w = mg.tensor([1.0, 2.0])
    x = mg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    with mg.no_grad():
        change(w)
    with pytest.raises(RuntimeError, match="'mul'.*input 1.*changed in place"):
        y.backward()


def test_a_changed_output_is_seen_too():
    x = mg.tensor([0.5, 1.0], requires_grad=True)
    y = mg.exp(x)
    with mg.no_grad():
        y.data = y.data + 1
    with pytest.raises(RuntimeError, match="'exp'.*its output"):
        y.sum().backward()


def test_a_changed_scan_output_is_seen():
    h0 = mg.tensor([[0.1, 0.2]], requires_grad=True)
    xs = mg.tensor(np.ones((3, 1, 2), dtype=np.float32))
    h, ys = mg.scan(lambda h, x: (mg.tanh(h + x), mg.tanh(h + x)), h0, xs)
    with mg.no_grad():
        ys += 1.0
    with pytest.raises(RuntimeError, match="'scan'.*changed in place"):
        h.sum().backward()


def test_unchanged_values_and_rebinding_are_fine():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0])
    y = (x * w).sum()
    w = w + 1  # a new tensor: the saved one is untouched
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [3, 4])


def test_in_place_arithmetic_under_no_grad_changes_the_tensor_and_its_aliases():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    alias = p
    with mg.no_grad():
        p -= 0.5 * mg.tensor([2.0, 2.0])  # a manual SGD step: the very parameter changes
    assert p is alias
    np.testing.assert_array_equal(alias.data, [0.0, 1.0])


def test_in_place_on_a_leaf_that_requires_grad_in_grad_mode_is_an_error():
    p = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place update of a leaf that requires grad"):
        p += 1.0


def test_in_place_inside_the_graph_makes_a_new_tensor():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    before = h
    h += 1  # recorded as h + 1: the loss += term pattern
    assert h is not before
    np.testing.assert_array_equal(before.data, [2, 4])
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2, 2])


def test_in_place_errors_are_clear():
    with mg.no_grad():
        t = mg.tensor([1, 2])
        with pytest.raises(TypeError, match="would change the dtype of a int64 tensor"):
            t += 0.5
        t = mg.tensor([1.0, 2.0])
        with pytest.raises(ValueError, match="does not broadcast"):
            t += mg.tensor([1.0, 2.0, 3.0])
        view = mg.from_numpy(np.arange(4.0)[::2])
        with pytest.raises(ValueError, match="view or read-only"):
            view += 1.0


def test_tensor_copies_its_data_so_later_changes_to_the_array_are_harmless():
    a = np.array([1.0, 2.0])
    x = mg.tensor(a, requires_grad=True)
    y = (x * x).sum()
    a[:] = 100
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2, 4])
    assert mg.from_numpy(a).data is a  # the documented way to share memory


def test_a_view_shares_its_base_s_version():
    w = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = mg.tensor([1.0, 1.0], requires_grad=True)
    y = mg.exp(x @ w.T)  # exp saves its output; matmul saves w.T, a view of w
    with mg.no_grad():
        w += 1.0
    with pytest.raises(RuntimeError, match="'matmul'.*input 1"):
        y.sum().backward()
    y = mg.exp(x)
    view = y[0:1]  # a view of exp's output
    with mg.no_grad():
        view.data = view.data  # an assignment through the view is a change of y
    with pytest.raises(RuntimeError, match="'exp'.*its output"):
        y.sum().backward()


def test_copy_and_the_initialisers_bump_the_version():
    w = mg.tensor([1.0, 2.0])
    x = mg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    nn.init.zeros_(w)
    np.testing.assert_array_equal(w.data, [0, 0])
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()
    with pytest.raises(RuntimeError, match="copy_ on a tensor in the graph"):
        x.copy_([1.0, 1.0])


def test_a_numpy_array_an_op_saves_is_copied_so_later_changes_are_harmless():
    """w * a, a @ w, where(mask, w, 0): the tape keeps the arrays as they were
    (it kept the caller's, and the backward used the new values)."""
    a, mask = np.array([3.0, 4.0]), np.array([True, False])
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (w * a).sum() + (a[None] @ w[:, None]).sum() + mg.where(mask, w * w, 0.0).sum()
    a[:], mask[:] = 100.0, True
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [3 + 3 + 2, 4 + 4])


def test_stop_gradient_and_a_function_returning_its_input_give_arrays_of_their_own():
    """Both gave back the input's very array without sharing its version
    counter: an in-place change of one reached what had saved the other unseen."""
    class Identity(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    for make in (mg.stop_gradient, Identity.apply):
        for saved in ("output", "input"):
            w = mg.tensor([1.0, 2.0], requires_grad=True)
            c = mg.tensor([3.0, 4.0])
            s = make(c)
            y = (w * (s if saved == "output" else c)).sum()
            other = c if saved == "output" else s
            other += 10.0  # in place
            y.backward()
            np.testing.assert_array_equal(w.grad.data, [3, 4])


def test_a_numpy_array_a_scan_step_reads_is_kept_as_it_was_for_the_backward():
    """As the loop's ops copy it: a kept program's frames copied it too (they read the changed array)."""
    mask = np.array([[1.0, 0.0, 2.0]])

    def step(h, x_t, w):
        h = mg.tanh(h @ w + x_t) * mask
        return h, h

    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    x, h0 = mg.tensor(rng.standard_normal((4, 1, 3))), mg.tensor(np.zeros((1, 3)))
    _, ys = mg.scan(step, h0, x, consts=w, unroll=True)
    want = mg.grad(ys.sum(), [w])[0].data  # the mask left alone
    for unroll in (True, False, False, False):  # the loop, a fresh trace, its written-out replays
        mask[:] = [[1.0, 0.0, 2.0]]
        _, ys = mg.scan(step, h0, x, consts=w, unroll=unroll)
        mask[:] = 5.0
        np.testing.assert_allclose(mg.grad(ys.sum(), [w])[0].data, want, rtol=1e-12)


# -- an index or mask saved for the backward: the one the forward used (they moved the gradient elsewhere) --

@pytest.mark.parametrize("change", [
    lambda idx: idx.__iadd__(1),
    lambda idx: idx.copy_(np.array([1, 2])),
], ids=["+=", "copy_"])
def test_getitem_by_an_index_tensor_changed_in_place_raises(change):
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = mg.tensor([0, 1])
    loss = (x[idx] * mg.tensor([10.0, 20.0])).sum()
    with mg.no_grad():
        change(idx)
    with pytest.raises(RuntimeError, match="'getitem'.*input 1.*changed in place"):
        loss.backward()


def test_getitem_by_a_mask_tensor_changed_in_place_raises():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = mg.tensor([True, False, False])
    loss = x[mask].sum()
    mask.copy_(np.array([False, False, True]))
    with pytest.raises(RuntimeError, match="'getitem'.*changed in place"):
        loss.backward()


@pytest.mark.parametrize("index", [
    lambda: np.array([0, 1]),
    lambda: (np.array([0, 1]), slice(None)),
    lambda: np.array([True, True, False]),
], ids=["ints", "ints-in-tuple", "mask"])
def test_getitem_by_a_numpy_index_the_caller_changes_later_keeps_the_forward_s(index):
    x = mg.tensor(np.ones((3, 2)), requires_grad=True)
    idx = index()
    loss = (x[idx] * mg.tensor([[10.0, 10.0], [20.0, 20.0]])).sum()
    array = idx[0] if isinstance(idx, tuple) else idx
    array[:] = np.roll(array, 1)  # the caller reuses their buffer
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 10.0], [20.0, 20.0], [0.0, 0.0]])


def test_embedding_by_ids_changed_after_the_forward_raises_or_keeps_the_forward_s():
    w = mg.tensor(np.ones((3, 2)), requires_grad=True)
    ids = mg.tensor([0, 0])
    loss = mg.embedding(w, ids).sum()
    ids.copy_(np.array([2, 2]))
    with pytest.raises(RuntimeError, match="'embedding'.*input 1.*changed in place"):
        loss.backward()
    ids = np.array([0, 0])
    loss = mg.embedding(w, ids).sum()
    ids[:] = 2
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[2.0, 2.0], [0.0, 0.0], [0.0, 0.0]])


def test_take_along_axis_where_masked_fill_and_add_at_keep_the_forward_s_index_or_mask():
    """take_along_axis keeps a copy of its index, where and masked_fill save
    their condition (these were right; add_at kept the caller's index)."""
    x = mg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    idx, mask, at = np.array([[0, 1]]), np.array([[True, False, False]]), np.array([0, 1])
    y = (mg.take_along_axis(x, idx, 1) * mg.tensor([[10.0, 20.0]])).sum() + mg.masked_fill(x, mask, 0.0).sum() \
        + (mg.add_at(x[0, :2] * 100.0, at, (3,)) * mg.tensor([1.0, 2.0, 3.0])).sum()
    idx[:], mask[:], at[:] = [[2, 2]], True, [2, 2]
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0 + 0 + 100, 20.0 + 1 + 200, 0.0 + 1]])
    idx_t = mg.tensor([[0, 1]])
    y = mg.take_along_axis(x, idx_t, 1).sum() + mg.where(mg.tensor([[True, False, True]]), x, 0.0).sum()
    with mg.no_grad():
        idx_t += 1
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 1.0, 1.0]])
