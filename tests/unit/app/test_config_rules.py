"""The rules between config keys (daemon/config_rules.py) and the one report of every problem:
a rule runs on the keys that parsed even when other keys did not, is skipped when a key it reads
is itself bad, and each problem carries the line of its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, Settings, load_config, parse_settings


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(data)
    return info.value.problems


@pytest.mark.parametrize(("data", "expected"), [
    ({"strategy": {"ma_short": 25}}, "strategy.ma_short: ma_short (25) must be smaller than "
     "ma_long (25)"),
    ({"risk": {"min_notional": 500, "max_order_notional": 5}}, "risk.min_notional: "
     "min_notional (500) is above max_order_notional (5): no order can ever be placed"),
    ({"redis": {"heartbeat_ttl_s": 10}}, "redis.heartbeat_ttl_s: redis.heartbeat_ttl_s (10) "
     "must be longer than health.heartbeat_interval_s (10)"),
    ({"runtime": {"restart_backoff_s": 40}}, "runtime.restart_backoff_s: restart_backoff_s (40) "
     "is above restart_backoff_max_s (30)"),
    ({"exchange": {"ws_ping_interval_s": 50}}, "exchange.ws_ping_interval_s: ws_ping_interval_s "
     "(50) must not be longer than ws_stale_after_s (45)"),
    ({"redis": {"lease_ttl_s": 30}, "health": {"heartbeat_interval_s": 20}},
     "health.heartbeat_interval_s (20) must be at most half of redis.lease_ttl_s (30)"),
])
def test_each_rule(data: dict[str, object], expected: str) -> None:
    found = problems(data)
    assert len(found) == 1 and expected in found[0], found
    with pytest.raises(ValueError, match=r"must|above"):  # the model alone refuses it too
        Settings.model_validate(data)


def test_rules_run_next_to_per_key_errors() -> None:
    found = problems({"strategy": {"ratio": "lots", "ma_short": 30},
                      "risk": {"min_notional": 500, "max_order_notional": 5}, "bogus": 1})
    assert found[0].startswith("strategy.ratio: Input should be a valid decimal")
    assert found[1] == "bogus: unknown key"
    assert found[2].startswith("strategy.ma_short: ma_short (30) must be smaller")
    assert found[3].startswith("risk.min_notional: min_notional (500) is above")
    assert len(found) == 4


def test_a_rule_on_a_bad_key_is_not_run() -> None:
    # ma_long does not parse: the period rule would speak of the default 25, not the file's
    found = problems({"strategy": {"ma_short": 30, "ma_long": "x"}})
    assert len(found) == 1 and found[0].startswith("strategy.ma_long: Input should be")
    # a section that is not a mapping: none of its rules run, the others do
    found = problems({"risk": [1], "strategy": {"ma_short": 30}})
    assert found[0].startswith("risk: Input should be a valid dictionary")
    assert found[1].startswith("strategy.ma_short: ma_short (30)") and len(found) == 2


@pytest.mark.parametrize("rotation", ["50 MB", "1 GB", "1 week", "12 h", "daily", "00:00",
                                      "monday at 12:00"])
def test_rotations_loguru_reads(rotation: str) -> None:
    assert parse_settings({"log": {"rotation": rotation}}).log.rotation == rotation


@pytest.mark.parametrize("rotation", ["banana", "50 parsecs", ""])
def test_rotations_loguru_refuses(rotation: str) -> None:
    [found] = problems({"log": {"rotation": rotation}})
    assert found.startswith("log.rotation: Value error, not a size")


def test_lines_in_the_report(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("mode: live\n\nrisk:\n  max_order_notional: 5\n  min_notional: 500\n"
                    "strategy:\n  ratoi: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "strategy.ratoi: unknown key (line 7)",
        "risk.min_notional: min_notional (500) is above max_order_notional (5): no order can "
        "ever be placed (line 5)",
    ]
