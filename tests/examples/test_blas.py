"""examples/blas.py: the BLAS thread setting every example and benchmark starts with."""

import os
import subprocess
import sys

import pytest

from examples.blas import VARIABLES, limit_blas_threads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def fresh(threads: str | None, **extra: str) -> subprocess.CompletedProcess:
    """Import the examples package in a new process and report what BLAS was told."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "MINIGRAD_BLAS_THREADS"}
    if threads is not None:
        env["MINIGRAD_BLAS_THREADS"] = threads
    env.update(extra)
    code = "import os, examples; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("threads, expected", [(None, "1"), ("2", "2"), ("default", "None")])
def test_examples_set_the_blas_threads_before_numpy_loads(threads, expected):
    out = fresh(threads)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_a_users_own_blas_variable_wins():
    out = fresh("3", OPENBLAS_NUM_THREADS="2")
    assert out.stdout.strip() == "2"


@pytest.mark.parametrize("bad", ["0", "-1", "two", ""])
def test_a_bad_setting_is_a_clear_error(bad, monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINIGRAD_BLAS_THREADS", bad)
    with pytest.raises(SystemExit, match="MINIGRAD_BLAS_THREADS must be a positive integer"):
        limit_blas_threads()
