"""The README's Python examples run as written (so the docs cannot rot)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 3


def test_readme_examples_run():
    namespace: dict = {}
    for block in python_blocks():
        if not block.lstrip().startswith("@primitive"):
            exec(compile(block, str(README), "exec"), namespace)


def test_readme_excerpts_match_the_code():
    ops = (README.parent / "minigrad" / "ops.py").read_text(encoding="utf-8")
    excerpts = [b for b in python_blocks() if b.lstrip().startswith("@primitive")]
    assert excerpts
    for block in excerpts:
        assert block.strip() in ops
