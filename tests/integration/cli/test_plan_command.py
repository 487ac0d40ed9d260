"""``rebalancer plan`` end to end: through daemon.cli.main and through a real subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main

REPO = Path(__file__).resolve().parents[3]

SNAPSHOT: dict[str, Any] = {
    "price": "0.05",
    "balances": {"QRL": {"free": "8000", "locked": "0"}, "USDT": {"free": "600", "locked": "0"}},
    "trend": "BULLISH", "cost_basis": "0.052", "core_floor": "5600",
    "rules": {"base_precision": 2, "quote_precision": 5, "min_qty": "0.01",
              "min_notional": "1", "taker_fee": "0.0005"},
    "trades_today": 0, "last_trade_ms": None, "now_ms": 1700000000000,
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    # as STRATEGY.md's vector I1: max_drift null (the default 0.10 would make its 10% gap a
    # drift-guard trade)
    path.write_text("strategy:\n  name: intelligent\n  max_drift: null\nrisk:\n"
                    "  min_notional: 5\n")
    return path


def write(tmp_path: Path, doc: object, name: str = "snap.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_buy_from_file(tmp_path: Path, config: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-c", str(config), "--snapshot", str(write(tmp_path, SNAPSHOT)))
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["action"], plan["quantity"], plan["notional"]) == ("BUY", "2000", "100")
    assert plan["reason_code"] == "rebalance_buy"
    assert plan["figures"]["total_value"] == "1000" and plan["figures"]["delta"] == "-100"
    assert plan["figures"]["min_notional_eff"] == "5"


def test_plan_hold_with_closes_and_symmetric(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("strategy:\n  name: symmetric\n  ma_short: 2\n  ma_long: 3\n")
    doc = dict(SNAPSHOT, trend=None, closes=["0.05", "0.05", "0.05"],
               balances={"QRL": {"free": "9840"}, "USDT": {"free": "508"}})
    code, out, _ = run(capsys, "-c", str(cfg), "--snapshot", str(write(tmp_path, doc)))
    plan = json.loads(out)
    assert code == 0 and plan["action"] == "HOLD" and plan["reason_code"] == "within_threshold"
    assert plan["figures"]["ma_long"] == "0.05" and plan["figures"]["trend"] == "NEUTRAL"


def test_plan_intelligent_without_signal_is_insufficient_data(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {k: v for k, v in SNAPSHOT.items() if k != "trend"}
    code, out, _ = run(capsys, "-c", str(config), "--snapshot", str(write(tmp_path, doc)))
    assert code == 0 and json.loads(out)["reason_code"] == "insufficient_data"


def test_plan_from_stdin(config: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(SNAPSHOT)))
    code, out, _ = run(capsys, "-c", str(config), "--snapshot", "-")
    assert code == 0 and json.loads(out)["quantity"] == "2000"


def test_json_floats_are_kept_exact(tmp_path: Path, config: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps(SNAPSHOT).replace('"0.05"', "0.05").replace('"0.052"', "0.052")
    code, out, _ = run(capsys, "-c", str(config), "--snapshot", str(write(tmp_path, text)))
    assert code == 0 and json.loads(out)["figures"]["price"] == "0.05"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1, column 2"),
        (json.dumps(dict(SNAPSHOT, price="x")), "snapshot.price: not a decimal"),
        (json.dumps({k: v for k, v in SNAPSHOT.items() if k != "rules"}), "snapshot.rules"),
        (json.dumps(dict(SNAPSHOT, trades_today=-2)), "snapshot.trades_today"),
        ("[]", "snapshot: expected a JSON object"),
    ],
)
def test_bad_snapshot_exits_2_naming_the_problem(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    code, out, err = run(capsys, "-c", str(config), "--snapshot", str(write(tmp_path, content)))
    assert code == 2 and out == ""
    assert message in err


def test_missing_snapshot_file(tmp_path: Path, config: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-c", str(config), "--snapshot", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json: file not found" in err


def test_no_snapshot_and_no_daemon_state_exits_2(
    config: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --snapshot the daemon's live inputs are evaluated (tests/e2e/test_operator_cli.py);
    with none under the key prefix, a clear refusal."""
    with config.open("a") as f:
        f.write(f"redis:\n  url: {redis_url}\n")
    code, out, err = run(capsys, "-c", str(config))
    assert (code, out) == (2, "")
    assert f"error: no state under key prefix 'bot:QRLUSDT:' in Redis at {redis_url}" in err
    assert "give --snapshot FILE" in err


@pytest.mark.parametrize("value", ["1e999999999", "-1e999999999", "1e-999999999"])
def test_an_absurd_exponent_is_refused_not_a_traceback_or_a_hang(
        tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    snap = write(tmp_path, dict(SNAPSHOT, price=value))
    code, out, err = run(capsys, "-c", str(config), "--snapshot", str(snap))
    assert (code, out) == (2, "")
    assert err == f"error: snapshot.price: out of range: '{value}'\n"


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("strategy:\n  threshold: 7\n")
    code, _, err = run(capsys, "-c", str(cfg), "--snapshot", str(write(tmp_path, SNAPSHOT)))
    assert code == 2 and "strategy.threshold" in err


def test_subprocess_stdin_and_error(tmp_path: Path, config: Path) -> None:
    cmd = [sys.executable, "-m", "daemon", "plan", "-c", str(config), "--snapshot", "-"]
    done = subprocess.run(cmd, input=json.dumps(SNAPSHOT), capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == "BUY"
    bad = dict(SNAPSHOT, balances={"QRL": {"free": "1"}})
    done = subprocess.run(cmd, input=json.dumps(bad), capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False)
    assert done.returncode == 2
    assert "snapshot.balances.USDT: missing" in done.stderr


@pytest.mark.parametrize(("bid", "ask", "action", "code"), [
    ("0.0495", "0.0505", "HOLD", "spread_too_wide"),  # a 2% spread, max_spread_pct 1
    ("0.04999", "0.05001", "BUY", "rebalance_buy"),
])
def test_plan_reads_bid_and_ask_for_the_spread_check_and_cost(
        tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], bid: str, ask: str,
        action: str, code: str) -> None:
    """STRATEGY.md v2 through the command: bid/ask in the snapshot feed the spread check; the
    plan's figures carry drift, est_fee, est_spread_cost and est_cost."""
    doc = {**SNAPSHOT, "bid": bid, "ask": ask}
    rc, out, err = run(capsys, "-c", str(config), "--snapshot", str(write(tmp_path, doc)))
    assert rc == 0, err
    plan = json.loads(out)
    assert (plan["action"], plan["reason_code"]) == (action, code)
    fig = plan["figures"]
    assert fig["drift"] == "-0.1"  # 8000 * 0.05 / 1000 - 0.5
    if action == "BUY":  # 2000 QRL: fee 100 * 0.0005, half the spread 2000 * 0.00002 / 2
        assert (fig["est_fee"], fig["est_spread_cost"], fig["est_cost"]) == (
            "0.05", "0.02", "0.07")
    else:
        assert "more than max_spread_pct 1%" in plan["reason"]
        assert fig["est_cost"] is None


def test_plan_refuses_half_a_book(tmp_path: Path, config: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "-c", str(config), "--snapshot",
                     str(write(tmp_path, {**SNAPSHOT, "bid": "0.0499"})))
    assert rc == 2 and "snapshot.ask: missing, needed because bid is given" in err
    rc, _, err = run(capsys, "-c", str(config), "--snapshot",
                     str(write(tmp_path, {**SNAPSHOT, "bid": "0.051", "ask": "0.05"}, "x.json")))
    assert rc == 2 and "snapshot.bid: 0.051 is not below ask 0.05" in err
