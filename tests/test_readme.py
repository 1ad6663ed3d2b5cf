"""The README's Python examples run as written (so the docs cannot rot)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(with_lines: bool = False) -> list:
    """The ```python blocks; with_lines: (block, the README line it starts on)."""
    text = README.read_text(encoding="utf-8")
    blocks = [(m.group(1), text.count("\n", 0, m.start(1))) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]
    return blocks if with_lines else [block for block, _ in blocks]


def test_readme_has_examples():
    assert len(python_blocks()) >= 3


def test_readme_examples_run():
    namespace: dict = {}
    for block, line in python_blocks(with_lines=True):
        if not block.lstrip().startswith("@primitive"):  # padded so tracebacks (and inspect) point into README
            exec(compile("\n" * line + block, str(README), "exec"), namespace)


def test_readme_excerpts_match_the_code():
    ops = (README.parent / "minigrad" / "ops.py").read_text(encoding="utf-8")
    excerpts = [b for b in python_blocks() if b.lstrip().startswith("@primitive")]
    assert excerpts
    for block in excerpts:
        assert block.strip() in ops


def test_quick_start_is_the_two_commands_and_ci_runs_the_second():
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^ *(python3 -m venv .*)$", quick_start, flags=re.M)
    assert len(commands) == 2
    assert '".[examples]"' in commands[0] and commands[0].endswith("-m examples.translate_dates")
    assert '".[test]"' in commands[1] and commands[1].endswith("-m pytest")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert f"TEST_COMMAND='{commands[1]}'" in ci


def test_the_package_metadata_has_the_version_the_code_and_readme_give():
    """pyproject.toml said 0.1.0 (what pip shows and installs) while minigrad.__version__ and the README say 0.2."""
    import minigrad

    pyproject = (README.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "([^"]+)"$', pyproject, flags=re.M).group(1) == minigrad.__version__
    status = re.search(r"\*\*Status\*\* \((\d+\.\d+),", README.read_text(encoding="utf-8")).group(1)
    assert minigrad.__version__.startswith(status + ".")
