"""nn.save / nn.load: exact round trips, atomic writes, clear errors."""

import os

import numpy as np
import pytest

import nn


def checkpoint():
    model = nn.LSTM(3, 4)
    opt = nn.optim.Adam(model.parameters())
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "loss": 0.25,
            "name": "run-1", "flags": (True, None), "history": [1.5, 2.5]}


def test_round_trip_is_bit_exact_and_keeps_types(tmp_path):
    original = checkpoint()
    original["model"]["extra64"] = np.random.default_rng(0).standard_normal((2, 3))
    nn.save(original, tmp_path / "c.npz")
    loaded = nn.load(tmp_path / "c.npz")
    assert loaded.keys() == original.keys()
    for key, value in original["model"].items():
        assert loaded["model"][key].dtype == value.dtype
        np.testing.assert_array_equal(loaded["model"][key], value)
    assert loaded["epoch"] == 7 and isinstance(loaded["epoch"], int)
    assert loaded["loss"] == 0.25 and loaded["name"] == "run-1"
    assert loaded["flags"] == (True, None) and loaded["history"] == [1.5, 2.5]
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "c.npz"
    nn.save(checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or not a minigrad checkpoint"):
        nn.load(path)


def test_foreign_files_are_rejected(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a minigrad checkpoint"):
        nn.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(3))
    with pytest.raises(ValueError, match="no manifest"):
        nn.load(plain)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __minigrad_checkpoint__=np.array('{"array": "a0"}'), a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot be read safely"):
        nn.load(path)
    with pytest.raises(TypeError, match="dtype object"):
        nn.save({"x": np.array([None], dtype=object)}, tmp_path / "x.npz")


def test_interrupted_save_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    nn.save({"epoch": 1}, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        nn.save({"epoch": 2}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_wrong_shape_state_is_rejected_on_load(tmp_path):
    nn.save(nn.Linear(3, 4).state_dict(), tmp_path / "l.npz")
    with pytest.raises(ValueError, match="weight: checkpoint \\(4, 3\\), model \\(4, 5\\)"):
        nn.Linear(5, 4).load_state_dict(nn.load(tmp_path / "l.npz"))


def test_unsupported_objects_are_named(tmp_path):
    with pytest.raises(TypeError, match="set"):
        nn.save({"x": {1, 2}}, tmp_path / "x.npz")
