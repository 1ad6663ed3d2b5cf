"""examples/heap.py: glibc told to keep its heap, as every example and benchmark starts."""

import os
import subprocess
import sys

import pytest

from examples.heap import keep_heap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


GLIBC = _glibc()


def fresh(setting: str | None) -> subprocess.CompletedProcess:
    """Import the examples package in a new process and report whether it kept the heap."""
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_KEEP_HEAP"}
    if setting is not None:
        env["MINIGRAD_KEEP_HEAP"] = setting
    return subprocess.run([sys.executable, "-c", "import examples; print(examples.HEAP_KEPT)"], env=env, cwd=ROOT,
                          capture_output=True, text=True)


@pytest.mark.parametrize("setting, kept", [(None, GLIBC), ("1", GLIBC), ("0", False)])
def test_the_examples_keep_the_heap_unless_told_not_to(setting, kept):
    out = fresh(setting)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(kept)


@pytest.mark.parametrize("bad", ["yes", "2", ""])
def test_a_bad_setting_is_a_clear_error(bad, monkeypatch):
    monkeypatch.setenv("MINIGRAD_KEEP_HEAP", bad)
    with pytest.raises(SystemExit, match="MINIGRAD_KEEP_HEAP must be 1 .* or 0 .*, got"):
        keep_heap()
