"""docs/api.md lists every public name of minigrad and nn with its current
signature, and nothing that no longer exists.

Public: the names in a module's ``__all__``, and every function or class of
the project (not NumPy's or the standard library's, nor from a private
module such as ``nn._checks``) that a user-facing module exposes without a
leading underscore; for the classes users call methods on, every public
member. A name is documented by a line

    - `path(signature)` -- what it does

where path starts with ``mg.`` (minigrad), ``minigrad.`` or ``nn.``, and the
signature is the code's (annotations dropped; none for attributes and
exceptions). An object reachable under two names (``nn.batches`` is
``nn.data.batches``) needs one line. On failure the test prints the lines
to add or fix."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import types

import minigrad
import nn

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"
ALIASES = {"mg": "minigrad"}
# The user-facing modules: these, and every module nn exports in __all__.
MODULES = ["minigrad", "minigrad.testing", "nn"] + [
    f"nn.{name}" for name in nn.__all__ if isinstance(getattr(nn, name), types.ModuleType)]
# Classes whose public members are part of the API.
CLASSES = ["mg.Tensor", "mg.Function", "mg.Context", "nn.Module", "nn.optim.Optimizer", "nn.optim.LRScheduler"]
ENTRY = re.compile(r"- `(?P<path>(?:mg|minigrad|nn)\.[\w.]+)(?P<signature>.*?)` -- \S")


def resolve(path: str):
    """(owner, object) for a dotted path: attribute by attribute from the top
    package (``minigrad.tensor`` is the function, not the module of that
    name), importing a submodule only where there is no such attribute."""
    parts = path.split(".")
    parts[0] = ALIASES.get(parts[0], parts[0])
    owner, obj = None, importlib.import_module(parts[0])
    for k, name in enumerate(parts[1:], start=2):
        if hasattr(obj, name):
            owner, obj = obj, getattr(obj, name)
            continue
        if not isinstance(obj, types.ModuleType):
            raise AttributeError(f"{path}: {'.'.join(parts[:k - 1])} has no attribute {name!r}")
        try:
            owner, obj = obj, importlib.import_module(".".join(parts[:k]))
        except ImportError:
            raise AttributeError(f"{path}: no attribute or module {'.'.join(parts[:k])}") from None
    return owner, obj


def render_default(value) -> str:
    if isinstance(value, type):
        return f"np.{value.__name__}" if value.__module__ == "numpy" else value.__name__
    return repr(value)


def render_signature(owner, obj, name: str) -> str:
    """The signature as api.md writes it: ``(a, b=1, *, c=None)``, no annotations, no self;
    empty for attributes, properties and exceptions."""
    static = inspect.getattr_static(owner, name) if inspect.isclass(owner) else obj
    if isinstance(static, property) or not callable(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
        return ""
    parameters = list(inspect.signature(obj).parameters.values())
    if inspect.isclass(owner) and inspect.isfunction(static) and parameters and parameters[0].name == "self":
        parameters = parameters[1:]  # a method, documented as called on an instance
    parts, starred = [], False
    for p in parameters:
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            starred = True
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        else:
            if p.kind is p.KEYWORD_ONLY and not starred:
                parts.append("*")
                starred = True
            parts.append(p.name if p.default is p.empty else f"{p.name}={render_default(p.default)}")
    return "(" + ", ".join(parts) + ")"


def documented() -> dict[str, str]:
    """path -> documented signature, for every entry line of api.md."""
    entries: dict[str, str] = {}
    for line in API.read_text(encoding="utf-8").splitlines():
        match = ENTRY.match(line)
        if match:
            assert match["path"] not in entries, f"docs/api.md lists {match['path']} twice"
            entries[match["path"]] = match["signature"]
    return entries


def is_project_object(value) -> bool:
    """A function or class of minigrad or nn, not from a private module (nn._checks)."""
    parts = (getattr(value, "__module__", None) or "").split(".")
    return ((inspect.isclass(value) or inspect.isfunction(value)) and parts[0] in ("minigrad", "nn")
            and not any(part.startswith("_") for part in parts))


def public_names() -> list[str]:
    """Every public path (see the module docstring), as it would be documented."""
    names = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        prefix = "mg" if module_name == "minigrad" else module_name
        listed = set(getattr(module, "__all__", ()))
        listed |= {name for name, value in vars(module).items()
                   if not name.startswith("_") and is_project_object(value)}
        names += [f"{prefix}.{name}" for name in sorted(listed)]
    for cls in CLASSES:
        names += [f"{cls}.{name}" for name in dir(resolve(cls)[1]) if not name.startswith("_")]
    return names


def suggestion(path: str) -> str:
    owner, obj = resolve(path)
    return f"- `{path}{render_signature(owner, obj, path.rsplit('.', 1)[1])}` -- <what it does>"


def listing_problems() -> list[str]:
    """Every listed name that no longer exists or whose signature changed."""
    problems = []
    for path, signature in documented().items():
        try:
            owner, obj = resolve(path)
        except AttributeError:
            problems.append(f"{path}: listed in docs/api.md but it no longer exists")
            continue
        expected = render_signature(owner, obj, path.rsplit(".", 1)[1])
        if signature != expected:
            problems.append(f"{path}: docs/api.md says {path}{signature}, the code is {path}{expected}")
    return problems


def test_every_listed_name_exists_with_its_current_signature():
    problems = listing_problems()
    assert not problems, "\n".join(problems)


def missing_names() -> list[str]:
    """A line to add for every public name api.md does not list (under this name or another)."""
    entries = documented()
    members = tuple(cls + "." for cls in CLASSES)
    seen = {id(resolve(path)[1]) for path in entries if not path.startswith(members)}
    missing = []
    for path in public_names():
        if path in entries:
            continue
        obj = resolve(path)[1]
        if isinstance(obj, types.ModuleType):  # (nn.functional: its names are checked one by one)
            continue
        if path.startswith(members) or id(obj) not in seen:
            missing.append(suggestion(path))
    return missing


def test_every_public_name_is_listed():
    missing = missing_names()
    assert not missing, "public names missing from docs/api.md; add:\n" + "\n".join(missing)


def test_the_checker_sees_a_new_a_removed_and_a_changed_name(monkeypatch):
    """The two tests above can fail, each with the line to write."""
    monkeypatch.setattr(minigrad, "__all__", [*minigrad.__all__, "brand_new"])
    monkeypatch.setattr(minigrad, "brand_new", lambda f, primals: None, raising=False)
    assert missing_names() == ["- `mg.brand_new(f, primals)` -- <what it does>"]
    monkeypatch.delattr(nn, "Jordan")
    monkeypatch.setattr(nn.functional, "dropout", lambda x, p=0.5: x)
    assert listing_problems() == [
        "nn.functional.dropout: docs/api.md says nn.functional.dropout(x, p=0.5, training=True, rng=None), "
        "the code is nn.functional.dropout(x, p=0.5)",
        "nn.Jordan: listed in docs/api.md but it no longer exists"]


def test_the_readme_links_the_reference_near_the_top():
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:15]
    assert any("docs/api.md" in line for line in head)
