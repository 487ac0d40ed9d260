"""The one table of MEXC kline intervals: the config validates exchange.kline_interval against
it (an interval the candle window cannot run on is a config error, exit 2 from check-config,
not a startup failure), and it agrees with the simulator's independent tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.adapters.mexc import intervals
from daemon.cli import main
from daemon.config import ConfigError, load_config, parse_settings
from daemon.sim.market import REST_INTERVALS, WS_INTERVALS, window_of


def _config(tmp_path: Path, interval: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"exchange:\n  kline_interval: {interval}\n")
    return path


def test_hour8_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, "Hour8"))
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.startswith("exchange.kline_interval: ")
    assert "no 8h interval" in problem and "Min60 or Hour4" in problem


def test_check_config_refuses_hour8_with_exit_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "Hour8")
    assert main(["check-config", "-c", str(path)]) == 2
    captured = capsys.readouterr()
    assert "exchange.kline_interval" in captured.err and "no 8h interval" in captured.err
    assert str(path) in captured.err and "valid" not in captured.out


@pytest.mark.parametrize(("name", "why"), [
    ("Month1", "calendar months have no fixed length"),
    ("Min7", "unknown kline interval 'Min7'"),
    ("5m", "use the websocket name 'Min5'"),
])
def test_other_unusable_intervals_are_named(name: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"exchange": {"kline_interval": name}})
    assert info.value.problems[0].startswith("exchange.kline_interval: ")
    assert why in info.value.problems[0]


def test_every_usable_interval_passes_check_config(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    usable = [i.ws for i in intervals.INTERVALS if i.rest is not None and i.ms is not None]
    assert usable == ["Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Day1", "Week1"]
    for name in usable:
        assert load_config(_config(tmp_path, name)).exchange.kline_interval == name
        assert main(["check-config", "-c", str(_config(tmp_path, name))]) == 0
    assert f"kline_interval: {usable[-1]}" in capsys.readouterr().out


def test_table_agrees_with_the_simulator() -> None:
    # The simulator keeps its own tables (an independent model of MEXC): the two must agree.
    assert [i.ws for i in intervals.INTERVALS] == list(WS_INTERVALS)
    assert sorted(i.rest for i in intervals.INTERVALS if i.rest) == sorted(REST_INTERVALS)
    for i in intervals.INTERVALS:
        if i.rest is not None:
            assert WS_INTERVALS[i.ws] == i.rest
            assert REST_INTERVALS[i.rest] == (i.ms or 0)  # the simulator's 0: calendar month
        if i.ms is not None:
            start, end = window_of(WS_INTERVALS[i.ws], 1_700_000_000_000)
            assert end - start == i.ms


def test_both_names_resolve() -> None:
    for i in intervals.INTERVALS:
        assert intervals.lookup(i.ws) is i
        if i.rest is not None:
            assert intervals.lookup(i.rest) is i and intervals.ws_interval(i.rest) == i.ws
    assert intervals.interval_ms("4h") == intervals.interval_ms("Hour4") == 14_400_000
    with pytest.raises(ValueError, match="no 8h interval"):
        intervals.rest_interval("Hour8")
    with pytest.raises(ValueError, match="unknown kline interval '1h'"):
        intervals.lookup("1h")
