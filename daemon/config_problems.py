"""Problems of a config file as one report: each pydantic error as one line naming its dotted
key and, when known, its line in the file; and the document without the keys that did not
parse, so that the rules between the keys that did (``daemon.config_rules``) still run."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def line_of(path: tuple[Any, ...], lines: Mapping[str, int]) -> int | None:
    for end in range(len(path), 0, -1):
        line = lines.get(".".join(str(p) for p in path[:end]))
        if line is not None:
            return line
    return None


def format_problem(error: Mapping[str, Any], lines: Mapping[str, int]) -> str:
    # a key with a line break or a control character is shown quoted: one line per problem
    path = ".".join(str(p) if str(p).isprintable() else repr(str(p))
                    for p in error["loc"]) or "(top level)"
    line = line_of(tuple(error["loc"]), lines)
    at = f" (line {line})" if line is not None else ""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"{path}: unknown key{at}"
    given = error.get("input")
    shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
    return f"{path}: {error['msg']}{shown}{at}"


def setting_of(loc: tuple[Any, ...], sections: Collection[str]) -> tuple[Any, ...]:
    """The setting an error at ``loc`` is about: section.key, or a top-level key (mode)."""
    return loc[:2] if loc and loc[0] in sections else loc[:1]


def without(data: dict[str, Any], keys: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of ``data`` without ``keys`` (a section that is not a mapping goes whole)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for key in keys:
        if len(key) == 1 or not isinstance(out.get(key[0]), dict):
            out.pop(key[0], None)
        else:
            out[key[0]].pop(key[1], None)
    return out
