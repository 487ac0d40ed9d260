"""loguru configuration: one event per line, to stderr (journald adds timestamps) and
optionally to a rotated file. ``format: json`` gives JSON lines with the bound correlation
fields (cycle_id, client_order_id, ...) as top-level keys."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

import orjson
from loguru import logger

from daemon.config import LogSettings
from daemon.errors import ConfigError

if TYPE_CHECKING:
    from loguru import Record

# Fields a line about a decision or an order carries; bound with logger.bind(...).
CORRELATION_KEYS = ("cycle_id", "client_order_id", "order_id", "trade_id", "event")


def _json_line(record: Record) -> str:
    out: dict[str, Any] = {
        "ts": record["time"].isoformat(),
        "level": record["level"].name,
        "msg": record["message"],
        "logger": record["name"],
    }
    for key, value in record["extra"].items():
        if key.startswith("_"):
            continue
        out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
    if record["exception"] is not None:
        out["exception"] = repr(record["exception"].value)
    return orjson.dumps(out).decode()


def _text_format(record: Record) -> str:
    extras = " ".join(
        f"{k}={record['extra'][k]}" for k in CORRELATION_KEYS if k in record["extra"]
    )
    # The extras are substituted by loguru as a field, so braces in them are harmless.
    record["extra"]["_corr"] = f" [{extras}]" if extras else ""
    return "{level: <7} {name}: {message}{extra[_corr]}\n{exception}"


def _timed_text_format(record: Record) -> str:
    return "{time:YYYY-MM-DD HH:mm:ss.SSS} " + _text_format(record)


def _json_format(record: Record) -> str:
    record["extra"]["_json"] = _json_line(record)
    return "{extra[_json]}\n"


def under_journald() -> bool:
    """Whether stderr goes to journald, which stamps each line itself."""
    return "JOURNAL_STREAM" in os.environ


def configure_logging(settings: LogSettings, *, stream: TextIO | None = None,
                      with_time: bool = False) -> None:
    """(Re)configure all sinks. ``with_time`` adds a timestamp to text lines on stderr (off
    under journald, which stamps lines itself); file lines always carry one."""
    logger.remove()
    out = stream if stream is not None else sys.stderr
    json_mode = settings.format == "json"
    fmt = _json_format if json_mode else (_timed_text_format if with_time else _text_format)
    logger.add(out, level=settings.level, format=fmt, backtrace=False, diagnose=False,
               colorize=False)
    if settings.file:
        try:
            logger.add(settings.file, level=settings.level,
                       format=_json_format if json_mode else _timed_text_format,
                       rotation=settings.rotation, retention=settings.retention_files,
                       backtrace=False, diagnose=False)
        except OSError as exc:  # a directory, no permission, a read-only file system
            raise ConfigError(f"log.file: cannot write {settings.file}: "
                              f"{exc.strerror or exc}") from None
