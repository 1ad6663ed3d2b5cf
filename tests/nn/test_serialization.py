"""nn.save / nn.load: exact round trips, atomic writes, clear errors."""

import os
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import nn

DAMAGED = "is truncated, corrupt or not a minigrad checkpoint"


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
    with pytest.raises(ValueError, match=DAMAGED):
        nn.load(path)


def test_foreign_files_are_rejected(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=DAMAGED + r".*not an \.npz archive"):
        nn.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(3))
    with pytest.raises(ValueError, match=DAMAGED + ".*no manifest"):
        nn.load(plain)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __minigrad_checkpoint__=np.array('{"array": "a0"}'), a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match=DAMAGED + ".*dtype object"):
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


def test_a_masked_array_is_refused_rather_than_saved_without_its_mask(tmp_path):
    """np.asarray dropped the mask: the masked 2.0 came back as a valid value."""
    with pytest.raises(TypeError, match=r"nn.save: a masked array would lose its mask; save \.data and \.mask"):
        nn.save({"x": np.ma.array([1.0, 2.0], mask=[0, 1])}, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


# -- every malformed checkpoint is the same ValueError ---------------------------------------

def handmade(path, manifest, **arrays):
    """A file laid out like a checkpoint but with the manifest text (or array) given."""
    np.savez(path, __minigrad_checkpoint__=manifest if isinstance(manifest, np.ndarray) else np.array(manifest),
             **arrays)
    return path


@pytest.mark.parametrize("manifest, arrays", [
    ('{"foo": 1}', {}),  # an unknown node (returned [] before)
    ('{"array": "a7"}', {"a0": np.ones(2)}),  # names a missing entry (KeyError before)
    ('[1, 2]', {}),  # a JSON list (AttributeError before)
    ('not json {', {}),
    ('{"value": 1, "list": []}', {}),  # two kinds in one node
    ('{"value": [1]}', {}),
    ('{"array": 5}', {}),
    ('{"list": 5}', {}),
    ('{"dict": [["x", true, {"value": 1}]]}', {}),  # says the key is an int, it is a str
    ('{"dict": [["x", false]]}', {}),
    ('{"dict": [["x", false, {"value": 1}], ["x", false, {"value": 2}]]}', {}),
    ('{"list": [{"array": "a0"}, {"array": "a0"}]}', {"a0": np.ones(2)}),  # one array named twice
    ('{"value": 1}', {"a0": np.ones(2)}),  # an array nobody names
    ('{"list": ' * 5000 + "[]" + "}" * 5000, {}),  # nested deeper than the recursion limit
    (np.array(5), {}),  # a manifest that is not text
    (np.array(['{"value": 1}'] * 2), {}),  # or not 0-d
    ('{"array": "a0"}', {"a0": np.zeros(2, dtype=[("x", "<f4")])}),  # a structured dtype
    ('{"array": "a0"}', {"a0": np.array(["text"])}),  # a string array
])
def test_handmade_manifests_are_one_clear_value_error(tmp_path, manifest, arrays):
    with pytest.raises(ValueError, match=DAMAGED):
        nn.load(handmade(tmp_path / "h.npz", manifest, **arrays))


def test_foreign_zip_entries_and_empty_files_are_value_errors(tmp_path):
    path = tmp_path / "c.npz"
    nn.save({"w": np.ones(2)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=DAMAGED + ".*readme.txt"):
        nn.load(path)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=DAMAGED):
        nn.load(tmp_path / "empty.npz")
    with pytest.raises(FileNotFoundError):  # a path problem stays what it is
        nn.load(tmp_path / "missing.npz")


def small_checkpoint():
    model = nn.Linear(2, 3, rng=np.random.default_rng(1))
    opt = nn.optim.Adam(model.parameters(), lr=0.5)
    model(mg.tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "name": "run",
            "flags": (True, None)}


def assert_same(a, b):
    """Equal values of equal types all the way down (arrays: dtype, shape and bits)."""
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def damaged_versions(data: bytes, rng: np.random.Generator, flips: int):
    """Every truncation of ``data`` and ``flips`` random single-byte changes."""
    for length in range(len(data)):
        yield f"truncated to {length}", data[:length]
    for _ in range(flips):
        position, mask = int(rng.integers(len(data))), int(rng.integers(1, 256))
        damaged = bytearray(data)
        damaged[position] ^= mask
        yield f"byte {position} ^ {mask:#x}", bytes(damaged)


def check_damaged_checkpoints(tmp_path, flips, seed):
    good = tmp_path / "good.npz"
    nn.save(small_checkpoint(), good)
    data, reference = good.read_bytes(), nn.load(good)
    target = nn.Linear(2, 3, rng=np.random.default_rng(2))  # what a user resumes into
    before = target.state_dict()
    path = tmp_path / "damaged.npz"
    loaded_anyway = 0
    for what, damaged in damaged_versions(data, np.random.default_rng(seed), flips):
        path.unlink(missing_ok=True)  # (a new file: ext4 flushes a file truncated after a write, which is slow)
        path.write_bytes(damaged)
        try:
            checkpoint = nn.load(path)
        except ValueError as error:
            assert DAMAGED in str(error), what
            for key, value in target.state_dict().items():  # nothing changed
                np.testing.assert_array_equal(value, before[key], err_msg=what)
            continue
        assert_same(checkpoint, reference)  # the change hit bytes that do not matter (timestamps, padding)
        loaded_anyway += 1
        assert path.read_bytes() == damaged
    assert good.read_bytes() == data
    return loaded_anyway, len(data)


def test_fuzz_truncations_and_byte_flips_are_value_errors_or_the_same_object(tmp_path):
    loaded_anyway, size = check_damaged_checkpoints(tmp_path, flips=1500, seed=0)
    assert loaded_anyway < 1500 // 4  # most flips must be detected (the CRC covers every data byte)


@pytest.mark.slow
def test_fuzz_many_more_byte_flips(tmp_path):
    for seed in range(1, 11):
        check_damaged_checkpoints(tmp_path, flips=5000, seed=seed)


# -- temporaries of killed saves --------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
STALLED_SAVE = """
import os, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path

import numpy as np
import nn

def stall(fd):  # the temporary is written; the save is about to fsync and rename it
    print("stalled", flush=True)
    time.sleep(600)

os.fsync = stall
nn.save({{"weights": np.arange(1000.0)}}, {path!r})
"""


def start_stalled_save(path):
    """A child process in the middle of nn.save(path)."""
    child = subprocess.Popen([sys.executable, "-c", STALLED_SAVE.format(root=str(ROOT), path=str(path))],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "stalled\n"
    return child


def temporaries(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.tmp-"))


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process ids are POSIX")
def test_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    path = tmp_path / "c.npz"
    nn.save({"epoch": 1}, path)
    for _ in range(3):
        child = start_stalled_save(path)
        child.kill()  # SIGKILL: no handler runs, the temporary stays
        child.wait()
        child.stdout.close()
    assert len(temporaries(path)) == 3
    assert nn.load(path) == {"epoch": 1}  # the old checkpoint is whole
    nn.save({"epoch": 2}, path)
    assert os.listdir(tmp_path) == ["c.npz"]
    assert nn.load(path) == {"epoch": 2}


@pytest.mark.skipif(os.name != "posix", reason="process ids are POSIX")
def test_a_save_in_progress_in_another_process_is_left_alone(tmp_path):
    path = tmp_path / "c.npz"
    child = start_stalled_save(path)
    try:
        (theirs,) = temporaries(path)
        nn.save({"epoch": 2}, path)
        assert temporaries(path) == [theirs]
        assert nn.load(path) == {"epoch": 2}
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_which_temporaries_count_as_stale(tmp_path, monkeypatch):
    from nn import serialization

    path = tmp_path / "c.npz"
    day_ago = time.time() - 2 * serialization.STALE_AFTER
    names = {
        "dead owner here": f".c.npz.tmp-{serialization._HOST}-{dead_pid()}-abc123.npz",
        "live owner here": f".c.npz.tmp-{serialization._HOST}-{os.getpid()}-abc123.npz",
        "old, other host": ".c.npz.tmp-otherhost-1-abc123.npz",
        "recent, other host": ".c.npz.tmp-otherhost-2-abc123.npz",
        "another target": f".d.npz.tmp-{serialization._HOST}-{dead_pid()}-abc123.npz",
        "not ours": ".tmp-abc123.npz",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    os.utime(tmp_path / names["old, other host"], (day_ago, day_ago))
    os.utime(tmp_path / names["live owner here"], (day_ago, day_ago))  # alive: age does not matter
    nn.save({"epoch": 1}, path)
    left = set(os.listdir(tmp_path))
    gone = {what for what, name in names.items() if name not in left}
    assert gone == ({"dead owner here", "old, other host"} if os.name == "posix" else {"old, other host"})


def test_numpy_scalars_come_back_with_their_dtype(tmp_path):
    values = [np.float32(0.5), np.float64(0.1), np.int64(3), np.uint8(255), np.bool_(True), np.complex64(1j)]
    nn.save({"values": values, "lr": np.float32(1e-3)}, tmp_path / "c.npz")
    loaded = nn.load(tmp_path / "c.npz")
    for value, back in zip(values + [np.float32(1e-3)], loaded["values"] + [loaded["lr"]]):
        assert type(back) is type(value) and back == value


@pytest.mark.parametrize("key", [True, np.int64(1), 1.5, (1, 2)])
def test_dict_keys_that_would_not_come_back_are_refused_at_save(tmp_path, key):
    path = tmp_path / "c.npz"
    with pytest.raises(TypeError, match=f"nn.save: dict keys must be str or int, got {type(key).__name__}"):
        nn.save({"ok": 1, key: "flag"}, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_a_scalar_node_must_name_a_0d_array(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, __minigrad_checkpoint__=np.array('{"scalar": "a0"}'), a0=np.ones(3))
    with pytest.raises(ValueError, match=DAMAGED + r".*scalar 'a0' has shape \(3,\)"):
        nn.load(path)


def test_str_bytes_and_pathlib_paths_all_work(tmp_path):
    """save(obj, b"path") failed ("Can't mix bytes and non-bytes in path components") though load took it."""
    for path in (str(tmp_path / "s"), os.fsencode(tmp_path / "b"), tmp_path / "p"):
        nn.save({"a": np.arange(3)}, path)
        np.testing.assert_array_equal(nn.load(path)["a"], np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["b", "p", "s"]  # no ".npz" added behind the user's back


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_checkpoint_has_the_permissions_a_plain_open_gives(tmp_path):
    """Checkpoints were 0600 (mkstemp's temporary, renamed into place): a file others could read
    before (0644) became private when a save replaced it."""
    previous = os.umask(0o022)
    try:
        path = tmp_path / "model.npz"
        nn.save({"w": np.ones(2)}, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.chmod(path, 0o640)
        nn.save({"w": np.zeros(2)}, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        np.testing.assert_array_equal(nn.load(path)["w"], np.zeros(2))
    finally:
        os.umask(previous)
