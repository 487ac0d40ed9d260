"""Config loading: every class of bad input names the key and exits 2; secrets are masked."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.config import (
    ConfigError,
    Settings,
    apply_reload,
    diff_settings,
    load_config,
    load_credentials,
    mask_url_password,
    parse_settings,
)

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def test_shipped_config_is_valid_and_equals_defaults() -> None:
    settings = load_config(REPO / "config.yaml")
    assert settings == Settings()
    assert settings.strategy.ratio == Decimal("0.5")
    assert settings.strategy.threshold == Decimal("0.01")
    assert settings.key_prefix == "bot:QRLUSDT:"
    assert settings.schedule.interval_s == 900
    assert settings.mode.value == "dry_run"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("strategy:\n  ratoi: 0.5\n", "strategy.ratoi: unknown key"),
        ("bogus: 1\n", "bogus: unknown key"),
        ("strategy:\n  ratio: lots\n", "strategy.ratio: Input should be a valid decimal"),
        ("strategy:\n  ratio: 1.5\n", "strategy.ratio: Input should be less than or equal to 1"),
        ("schedule:\n  interval_s: 0\n",
         "schedule.interval_s: Input should be greater than or equal to 1"),
        ("schedule:\n  interval_s: [1]\n", "schedule.interval_s: Input should be a valid integer"),
        ("mode: yolo\n", "mode: Input should be 'live' or 'dry_run'"),
        ("symbol: qrl/usdt\n", "symbol: String should match pattern"),
        ("exchange:\n  rest_url: ftp://x\n", "exchange.rest_url: Value error, must start with"),
        ("strategy:\n  ma_short: 30\n", "ma_short (30) must be smaller than ma_long (25)"),
        ("redis:\n  url: localhost\n", "redis.url: Value error, must start with redis://"),
        ("log:\n  format: xml\n", "log.format: Input should be 'text' or 'json'"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("strategy: [\n", "invalid YAML at line"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, expected: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({"strategy": {"ratio": 2, "x": 1}, "risk": {"min_notional": -1}})
    assert len(info.value.problems) == 3


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_floats_become_exact_decimals(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, "strategy:\n  threshold: 0.01\n  profit_target: 0.1\n"))
    assert s.strategy.threshold == Decimal("0.01")
    assert s.strategy.profit_target == Decimal("0.1")


def test_live_without_keys_is_a_startup_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MEXC_API_KEY", raising=False)
    monkeypatch.delenv("MEXC_API_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = write(tmp_path, "mode: live\n")
    # check-config checks what it can and says the keys were not (issue 16: under systemd
    # they exist only as LoadCredential= files); run still refuses
    assert main(["check-config", "-c", str(path)]) == 0
    assert "keys: not checked (no MEXC_API_KEY/MEXC_API_SECRET" in capsys.readouterr().out
    assert main(["run", "-c", str(path)]) == 2
    assert "mode: live needs MEXC_API_KEY" in capsys.readouterr().err


def test_secrets_masked_in_check_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    key, secret = "mx0vglTESTKEYabcdef", "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("MEXC_API_KEY", key)
    monkeypatch.setenv("MEXC_API_SECRET", secret)
    path = write(tmp_path, "mode: live\nredis:\n  url: redis://:hunter2pass@127.0.0.1:6379/0\n")
    assert main(["check-config", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert secret not in out and key not in out and "hunter2pass" not in out
    assert "api_key: mx0v********" in out
    assert "redis://:********@127.0.0.1:6379/0" in out
    creds = load_credentials()
    assert creds is not None
    assert secret not in repr(creds) and secret not in str(creds)


def test_credentials_from_systemd_directory(tmp_path: Path) -> None:
    (tmp_path / "MEXC_API_KEY").write_text("key-from-file-1234\n")
    (tmp_path / "MEXC_API_SECRET").write_text("secret-from-file\n")
    creds = load_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert creds is not None
    assert creds.api_key.get_secret_value() == "key-from-file-1234"
    assert creds.api_secret.get_secret_value() == "secret-from-file"


def test_half_credentials_is_an_error() -> None:
    with pytest.raises(ConfigError, match="MEXC_API_SECRET is missing"):
        load_credentials({"MEXC_API_KEY": "abc"})
    assert load_credentials({}) is None


def test_reload_diff_separates_restart_keys() -> None:
    old = Settings()
    new = parse_settings({"symbol": "BTCUSDT", "strategy": {"ratio": "0.6"},
                          "redis": {"url": "redis://10.0.0.1:6379/0"}})
    changed, restart = diff_settings(old, new)
    assert changed == ["strategy.ratio"]
    assert restart == ["redis.url", "symbol"]
    applied = apply_reload(old, new)
    assert applied.symbol == "QRLUSDT" and applied.redis.url == old.redis.url
    assert applied.strategy.ratio == Decimal("0.6")


def test_mask_url_password() -> None:
    assert mask_url_password("redis://u:p@h:1/0") == "redis://u:********@h:1/0"
    assert mask_url_password("redis://h:1/0") == "redis://h:1/0"


def test_a_heartbeat_slower_than_half_the_lease_ttl_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"redis": {"lease_ttl_s": 30}, "health": {"heartbeat_interval_s": 20}})
    assert "health.heartbeat_interval_s (20) must be at most half of redis.lease_ttl_s (30)" \
        in str(err.value)
    assert parse_settings({"redis": {"lease_ttl_s": 30},
                           "health": {"heartbeat_interval_s": 15}}).redis.lease_ttl_s == 30
