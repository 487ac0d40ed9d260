"""Every exception the project raises on purpose lives in daemon/errors.py, and the tree drawn
in its docstring is the real class tree (the simulator, an independent program, keeps its own)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import daemon
from daemon import errors


def _drawn_parents() -> dict[str, str | None]:
    """name -> parent name, read from the docstring's tree by indentation."""
    assert errors.__doc__ is not None
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        m = re.match(r"^([ │]*)(?:[├└]── )?([A-Z][A-Za-z]+)\b", line)
        if m is None or not hasattr(errors, m.group(2)) or not line.startswith("    "):
            continue
        depth = m.start(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[m.group(2)] = stack[-1][1] if stack else None
        stack.append((depth, m.group(2)))
    return parents


def test_the_drawing_is_the_class_tree() -> None:
    real: dict[str, str | None] = {
        name: cls.__bases__[0].__name__ for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.RebalancerError)}
    real["RebalancerError"] = None
    assert _drawn_parents() == real


def test_no_exception_class_outside_errors_py() -> None:
    outside = []
    for info in pkgutil.walk_packages(daemon.__path__, "daemon."):
        if info.name.startswith("daemon.sim") or info.name == "daemon.__main__":
            continue
        module = importlib.import_module(info.name)
        outside += [f"{info.name}.{name}" for name, obj in vars(module).items()
                    if inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name and info.name != "daemon.errors"]
    assert outside == []
