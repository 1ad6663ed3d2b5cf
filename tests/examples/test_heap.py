"""examples/heap.py: glibc told to keep its heap when Python runs an example."""

import os
import subprocess
import sys

import pytest

from examples import running_an_example
from examples.heap import keep_heap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


GLIBC = _glibc()


def test_the_heap_is_kept_when_python_runs_an_example_only():
    assert running_an_example(["python3", "-m", "examples.translate_dates", "--epochs", "1"])
    assert not running_an_example(["python3", "-m", "pytest", "tests/examples"])
    assert not running_an_example(["python3", "-m", "benchmarks.rnn"])
    assert not running_an_example(["python3", "-c", "import examples"])


@pytest.mark.parametrize("setting, kept", [(None, GLIBC), ("1", GLIBC), ("0", False)])
def test_keep_heap_follows_the_setting(setting, kept, monkeypatch):
    monkeypatch.delenv("MINIGRAD_KEEP_HEAP", raising=False)
    if setting is not None:
        monkeypatch.setenv("MINIGRAD_KEEP_HEAP", setting)
    code = "import examples.heap as h; print(h.keep_heap())"  # (a fresh process: the setting stays there)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(kept)


@pytest.mark.parametrize("bad", ["yes", "2", ""])
def test_a_bad_setting_is_a_clear_error(bad, monkeypatch):
    monkeypatch.setenv("MINIGRAD_KEEP_HEAP", bad)
    with pytest.raises(SystemExit, match="MINIGRAD_KEEP_HEAP must be 1 .* or 0 .*, got"):
        keep_heap()
