"""Log lines: one event per line, correlation fields on decision/order lines, JSON lines."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from loguru import logger

from daemon.config import LogSettings
from daemon.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging(LogSettings())


def test_text_lines_carry_correlation_fields() -> None:
    out = io.StringIO()
    configure_logging(LogSettings(format="text"), stream=out)
    logger.bind(cycle_id="t62utc", client_order_id="rb-t62utc-0").info("SELL {} {{x}}", 5)
    logger.debug("not shown at INFO")
    lines = out.getvalue().splitlines()
    assert lines == ["INFO    test_logging: SELL 5 {x} [cycle_id=t62utc "
                     "client_order_id=rb-t62utc-0]"]


def test_json_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    log_file = tmp_path / "rebalancer.log"
    configure_logging(LogSettings(format="json", level="DEBUG", file=str(log_file)), stream=out)
    logger.bind(cycle_id="c1", trade_id="99X1").warning('quote "{}"\nsecond line', "a")
    record = orjson.loads(out.getvalue())
    assert record["level"] == "WARNING"
    assert record["msg"] == 'quote "a"\nsecond line'  # one JSON line, newline escaped
    assert (record["cycle_id"], record["trade_id"]) == ("c1", "99X1")
    assert out.getvalue().count("\n") == 1
    logger.remove()  # flush and close the file sink
    assert orjson.loads(log_file.read_text())["cycle_id"] == "c1"
