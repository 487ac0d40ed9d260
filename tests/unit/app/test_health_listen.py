"""``health.listen``: off by default, "host:port" with an IP host (loopback or another address
given explicitly), each bad form named; a reload keeps the address it started with."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import (
    ConfigError,
    apply_reload,
    diff_settings,
    listen_address,
    load_config,
    parse_settings,
)


def test_off_by_default_and_parsed_from_yaml(tmp_path: Path) -> None:
    assert parse_settings({}).health.listen is None
    path = tmp_path / "config.yaml"
    path.write_text("health:\n  listen: 127.0.0.1:9464\n")
    assert load_config(path).health.listen == "127.0.0.1:9464"
    assert listen_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert listen_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert listen_address("[::1]:9464") == ("::1", 9464)


@pytest.mark.parametrize(("given", "said"), [
    ("9464", "must be host:port"),
    (":9464", "must be host:port"),
    ("localhost:9464", "host 'localhost' must be an IP address"),
    ("127.0.0.1:http", "port 'http' must be a number within 0..65535"),
    ("127.0.0.1:70000", "port '70000' must be a number within 0..65535"),
    ("127.0.0.1:", "port '' must be a number"),
])
def test_bad_addresses_are_named(given: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"health": {"listen": given}})
    assert len(err.value.problems) == 1
    problem = err.value.problems[0]
    assert problem.startswith("health.listen: ") and said in problem, problem


def test_a_reload_keeps_the_address_and_applies_the_rest_of_health() -> None:
    old = parse_settings({"health": {"listen": "127.0.0.1:9464"}})
    new = parse_settings({"health": {"listen": "0.0.0.0:9999", "heartbeat_interval_s": 5}})
    reloadable, restart_only = diff_settings(old, new)
    assert restart_only == ["health.listen"]
    assert reloadable == ["health.heartbeat_interval_s"]
    applied = apply_reload(old, new)
    assert applied.health.listen == "127.0.0.1:9464"
    assert applied.health.heartbeat_interval_s == 5
