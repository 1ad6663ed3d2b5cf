"""Tiny training runs of the seq2seq examples (a second or two each), for
tests of their command lines, checkpoints and --translate contract."""

import pytest

from examples import addition, translate_dates

TINY_DATES = ["--train-dates", "300", "--test-dates", "20", "--test-renderings", "1", "--test-non-dates", "20",
              "--hidden", "8", "--embedding", "8", "--epochs", "2", "--monitor-every", "2", "--plots", ""]
TINY_ADDITION = ["--train-size", "400", "--test-per-pair", "4", "--hidden", "8", "--embedding", "4", "--epochs", "2"]


@pytest.fixture(scope="session")
def tiny() -> dict[str, list[str]]:
    """The command-line options of a tiny run, per example."""
    return {"translate_dates": TINY_DATES, "addition": TINY_ADDITION}


@pytest.fixture(scope="module")
def dates_checkpoint(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("dates") / "tiny.npz")
    assert translate_dates.main(TINY_DATES + ["--checkpoint", path]) == 0
    return path


@pytest.fixture(scope="module")
def addition_checkpoint(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("addition") / "tiny.npz")
    assert addition.main(TINY_ADDITION + ["--checkpoint", path]) == 0
    return path
