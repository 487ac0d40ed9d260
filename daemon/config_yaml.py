"""config.yaml bytes -> plain Python data, strictly: every bad file is one ``ConfigError``
naming the file and, where there is one, the line.

PyYAML's ``SafeLoader`` with four changes, each closing a way a file could run something else
than what it says or kill the process that reads it:

- a key given twice in one mapping is an error naming the key and both lines (PyYAML keeps the
  last one: ``mode: dry_run`` then ``mode: live`` ran live);
- no YAML 1.1 sexagesimal numbers: ``1:30`` stays the string "1:30" (which no number setting
  accepts) instead of 90;
- no anchors or aliases (``&a`` / ``*a``): nothing in a config needs them and they expand
  (billion laughs); ``<<`` is no merge key either, just a key (that no section has);
- at most ``MAX_DEPTH`` levels of nesting (deeper ones blew Python's recursion limit);
- no number with a leading zero: YAML 1.1 reads ``010`` as octal 8, which nobody writing a
  config means; it is an error naming the line (quote it to mean text);
- at most ``MAX_CONFIG_BYTES`` (a config is a few kB; a file of gigabytes is not one).

Bytes that are not UTF-8 and control characters are reported with their line too. Numbers
are what ``SafeLoader`` makes of them (floats are read through their repr by ``daemon.config``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node

from daemon.errors import ConfigError

MAX_DEPTH = 32  # sections are two levels deep; anything near this is not a config
MAX_CONFIG_BYTES = 1 << 20  # config.yaml with every comment is about 8 kB

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"  # ``<<`` is a plain key (an unknown one), never a merge
_LEADING_ZERO = "tag:rebalancer,2026:leading-zero"  # ``010``: refused, never octal 8
_LEADING_ZERO_RE = re.compile(r"^[-+]?0[0-9_]+$")
# SafeLoader's int and float forms without the YAML 1.1 base-60 ones (``1:30``, ``1:30.5``)
_INT_RE = re.compile(r"""^(?:[-+]?0b[0-1_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X)
_FLOAT_RE = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class _ConfigLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's per-class table, copied)
        first: [(tag, rx) for tag, rx in forms if tag not in (_INT, _FLOAT, _MERGE)]
        for first, forms in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark  # yaml.error.Mark (the stubs also name the C one)
        if isinstance(event, AliasEvent):
            raise ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed in a "
                                "config file; write the value out", mark)
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            raise ComposerError(None, None, f"anchors (&{event.anchor}) are not allowed in a "
                                "config file; write the value out", mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                    mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first_line.get(key)
            except TypeError:
                continue  # an unhashable key: SafeConstructor reports it
            line = key_node.start_mark.line + 1
            if seen is not None:
                raise ConstructorError(None, None, f"duplicate key {key!r} (first given at "
                                       f"line {seen}, again at line {line})",
                                       key_node.start_mark)
            first_line[key] = line
        return super().construct_mapping(node, deep)


_ConfigLoader.add_implicit_resolver(_LEADING_ZERO, _LEADING_ZERO_RE, list("-+0"))
_ConfigLoader.add_implicit_resolver(_INT, _INT_RE, list("-+0123456789"))


def _refuse_leading_zero(loader: yaml.SafeLoader, node: Node) -> object:
    raise ConstructorError(None, None, f"{node.value} has a leading zero (YAML 1.1 reads "
                           "such numbers as octal: 010 is 8); write it without the zero, or "
                           "quote it if you mean text", node.start_mark)


_ConfigLoader.add_constructor(_LEADING_ZERO, _refuse_leading_zero)
_ConfigLoader.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))


def _line_col(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[:exc.start].decode("utf-8", "replace")
        where = _line_col(before, len(before))
        bad = raw[exc.start]
        raise ConfigError(f"{source}: not valid UTF-8 at {where} (byte 0x{bad:02x}); "
                          "save the file as UTF-8") from None


def load_yaml(raw: bytes, source: str) -> object:
    """The document in ``raw`` as dicts, lists and scalars; ConfigError for anything else."""
    return load_yaml_lines(raw, source)[0]


def _key_lines(node: Node | None, prefix: str, out: dict[str, int]) -> None:
    if not isinstance(node, MappingNode):
        return
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}" if isinstance(key_node.value, str) else None
        if key is None:
            continue
        out.setdefault(key, key_node.start_mark.line + 1)
        _key_lines(value_node, key + ".", out)


def load_yaml_lines(raw: bytes, source: str) -> tuple[object, dict[str, int]]:
    """``load_yaml`` plus the line of each mapping key, by dotted path ("strategy.ratio")."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not a "
                          "config file")
    text = _decode(raw, source)
    try:
        loader = _ConfigLoader(text)  # a SafeLoader subclass
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
        lines: dict[str, int] = {}
        _key_lines(node, "", lines)
        return data, lines
    except yaml.reader.ReaderError as exc:  # a control character, NUL included
        where = _line_col(text, exc.position)
        raise ConfigError(f"{source}: invalid YAML at {where}: character "
                          f"U+{exc.character:04X} is not allowed") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "not a YAML document"
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2026-02-30
        raise ConfigError(f"{source}: invalid YAML value: {exc}") from None
