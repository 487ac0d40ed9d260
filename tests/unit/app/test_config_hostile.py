"""Hostile config files (from the fault campaign of issue 12): each is one ConfigError naming
the file and the line, never a traceback nor a file that silently means something else; and
``check-config`` prints it on one line per problem with exit 2."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.config import ConfigError, load_config

GOOD = b"mode: dry_run\nstrategy:\n  ratio: 0.5\n  threshold: 0.01\nrisk:\n  min_notional: 5\n"
LAUGHS = (b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
          b"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
          b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n")

CASES = [
    pytest.param(GOOD[:8] + b"\xff\xfe" + GOOD[8:],
                 "not valid UTF-8 at line 1, column 9 (byte 0xff)", id="invalid-utf8"),
    pytest.param(GOOD[:30] + bytes([GOOD[30] ^ 0x80]) + GOOD[31:],
                 "not valid UTF-8 at line 3, column 7 (byte 0xef)", id="byte-flipped"),
    pytest.param(b"".join(b" " * i + b"k%d:\n" % i for i in range(600)) + b" " * 600 + b"1\n",
                 "invalid YAML at line 32, column 32: nested deeper than 32 levels",
                 id="nested-600-block"),
    pytest.param(b"a: " + b"{b: " * 1000 + b"1" + b"}" * 1000 + b"\n",
                 "invalid YAML at line 1, column 125: nested deeper than 32 levels",
                 id="nested-1000-flow"),
    pytest.param(b"mode: dry_run\nsymbol: QRL\x00USDT\n",
                 "invalid YAML at line 2, column 12: character U+0000 is not allowed",
                 id="nul"),
    pytest.param(b"mode: dry_run\n\nstrategy:\n  ratio: 0.5\x07\n",
                 "invalid YAML at line 4, column 13: character U+0007 is not allowed",
                 id="control"),
    pytest.param(LAUGHS, "invalid YAML at line 1, column 4: anchors (&a) are not allowed",
                 id="billion-laughs"),
    pytest.param(b"strategy: {ratio: 0.5}\nrisk: *x\n",
                 "invalid YAML at line 2, column 7: aliases (*x) are not allowed",
                 id="alias"),
    pytest.param(b"mode: dry_run\n<<: {mode: live}\n", "<<: unknown key", id="merge-key"),
    pytest.param(b"mode: dry_run\nsymbol: QRLUSDT\nmode: live\n",
                 "invalid YAML at line 3, column 1: duplicate key 'mode' (first given at line 1, "
                 "again at line 3)", id="duplicate-key"),
    pytest.param(b"strategy:\n  ratio: 0.5\n  ratio: 0.9\n",
                 "invalid YAML at line 3, column 3: duplicate key 'ratio' (first given at line 2,"
                 " again at line 3)", id="duplicate-nested-key"),
    pytest.param(b"risk:\n  max_order_notional: 1:30\n",
                 "risk.max_order_notional: Input should be a valid decimal (got '1:30')",
                 id="sexagesimal-int"),
    pytest.param(b"strategy:\n  threshold: 0:0.5\n",
                 "strategy.threshold: Input should be a valid decimal (got '0:0.5')",
                 id="sexagesimal-float"),
    pytest.param(b"schedule:\n  interval_s: 2026-02-30\n",
                 "invalid YAML value: day is out of range for month", id="impossible-date"),
    # YAML 1.1 read 010 as 8: a cooldown of 8 s where 10 was written
    pytest.param(b"risk:\n  min_trade_interval_s: 010\n",
                 "invalid YAML at line 2, column 25: 010 has a leading zero (YAML 1.1 reads "
                 "such numbers as octal: 010 is 8)", id="octal"),
    pytest.param(b"execution:\n  client_order_prefix: 007\n",
                 "007 has a leading zero", id="octal-string-meant"),
    pytest.param(GOOD + b"#" * (1 << 20), "larger than 1024 KiB; not a config file",
                 id="too-large"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_hostile_file_is_one_config_error(tmp_path: Path, raw: bytes, expected: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: " in str(info.value)
    assert expected in str(info.value)
    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and expected in err
    assert "Traceback" not in err
    assert all(line.strip() for line in err.splitlines())  # one line per problem


def test_the_good_file_still_loads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(GOOD + b"execution:\n  order_timeout_s: 1_000\n")
    s = load_config(path)
    assert s.strategy.threshold == Decimal("0.01") and s.risk.min_notional == Decimal("5")
    assert s.execution.order_timeout_s == 1000


def test_the_same_key_in_two_sections_is_no_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"strategy:\n  name: symmetric\nlog:\n  level: INFO\nhealth: {}\n")
    assert load_config(path).log.level == "INFO"
