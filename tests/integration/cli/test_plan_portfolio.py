"""``rebalancer plan`` on a snapshot of several assets (STRATEGY.md v3): every leg and the
basket's totals; the README's basket example runs as shown; bad documents are named."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from daemon.cli import main

REPO = Path(__file__).resolve().parents[3]
CONFIG = ("strategy:\n  name: symmetric\nportfolio:\n  quote: USDT\n"
          "  targets: {QRL: 0.25, BTC: 0.25}\n")
QRL_RULES = {"base_precision": 8, "quote_precision": 5, "min_qty": "0.01", "min_notional": "1",
             "taker_fee": "0"}
BTC_RULES = {"base_precision": 6, "quote_precision": 2, "min_qty": "0.000001",
             "min_notional": "1", "taker_fee": "0"}


def basket(**assets: dict[str, Any]) -> dict[str, Any]:
    return {"balances": {"USDT": {"free": "1000"}, "QRL": {"free": "10000"},
                         "BTC": {"free": "0"}},
            "now_ms": 1700000000000,
            "assets": {"QRL": {"price": "0.05", "rules": QRL_RULES, **assets.get("QRL", {})},
                       "BTC": {"price": "100000", "rules": BTC_RULES,
                               **assets.get("BTC", {})}}}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object,
        config: str = CONFIG) -> tuple[int, str, str]:
    (tmp_path / "c.yaml").write_text(config)
    (tmp_path / "s.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    code = main(["plan", "-c", str(tmp_path / "c.yaml"), "--snapshot", str(tmp_path / "s.json")])
    out, err = capsys.readouterr()
    return code, out, err


def legs(doc: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    return [(leg["asset"], leg["plan"]["action"], leg["plan"]["quantity"],
             leg["plan"]["reason_code"], leg["pending"]) for leg in doc["legs"]]


def test_every_leg_and_the_totals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, capsys, basket())
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["total_value"], doc["quote_total"], doc["drift"]) == ("1500", "1000", "0.25")
    assert legs(doc) == [("QRL", "SELL", "2500", "rebalance_sell", False),
                         ("BTC", "BUY", "0.00375", "rebalance_buy", True)]
    assert doc["buys_pending"] is True and "once every SELL leg is final" in doc["note"]


def test_a_basket_without_sells_sizes_its_buys_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = basket()
    doc["balances"]["QRL"] = {"free": "6875"}  # QRL 343.75 of 1343.75: near its 25%
    code, out, err = run(tmp_path, capsys, doc)
    assert code == 0, err
    assert legs(json.loads(out)) == [("QRL", "HOLD", "0", "within_threshold", False),
                                     ("BTC", "BUY", "0.003359", "rebalance_buy", False)]


@pytest.mark.parametrize(("doc", "config", "message"), [
    ({**basket(), "assets": {**basket()["assets"], "xrp": {}}}, CONFIG,
     "snapshot.assets.xrp: not in portfolio.targets (QRL, BTC)"),
    ({**basket(), "assets": {**basket()["assets"], "qrl": {}}}, CONFIG,
     "snapshot.assets.qrl: listed twice (also as QRL)"),
    ({**basket(), "assets": {"QRL": basket()["assets"]["QRL"]}}, CONFIG,
     "snapshot.assets.BTC: missing (portfolio.targets lists it)"),
    ({**basket(), "balances": {"USDT": {"free": "1"}, "QRL": {"free": "1"}}}, CONFIG,
     "snapshot.balances.BTC: missing"),
    (basket(BTC={"rules": {**BTC_RULES, "min_qty": "x"}}), CONFIG,
     "snapshot.assets.BTC.rules.min_qty:"),
    (basket(BTC={"now_ms": 1}), CONFIG, "snapshot.assets.BTC.now_ms: unknown field"),
    (basket(), "strategy:\n  name: symmetric\n",
     "snapshot.assets: a snapshot of several assets needs portfolio.targets"),
    ({"price": "0.05", "balances": {}, "rules": QRL_RULES}, CONFIG,
     "snapshot.assets: missing: the config's portfolio has 2 assets (QRL, BTC)"),
])
def test_bad_documents_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 doc: object, config: str, message: str) -> None:
    code, out, err = run(tmp_path, capsys, doc, config)
    assert code == 2 and out == ""
    assert message in err, err


def test_a_single_pair_snapshot_under_a_one_asset_portfolio_prints_as_today(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single = {"price": "2", "balances": {"QRL": {"free": "100"}, "USDT": {"free": "100"}},
              "rules": QRL_RULES}
    code, out, err = run(tmp_path, capsys, single,
                         "strategy:\n  name: symmetric\nportfolio:\n  targets: {QRL: 0.5}\n")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["action"], plan["quantity"]) == ("SELL", "25")  # vector S4


def readme_basket() -> tuple[str, str, list[str]]:
    """The README's basket example: its config, its snapshot and its command."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### A basket of several assets", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    config, snapshot, command = (b.split("\n", 1)[1] for b in blocks)
    assert blocks[0].startswith("yaml") and blocks[1].startswith("json"), blocks
    return config, snapshot, shlex.split(command.strip())


def test_the_readme_basket_runs_as_shown(tmp_path: Path) -> None:
    config, snapshot, argv = readme_basket()
    assert argv == [".venv/bin/rebalancer", "plan", "-c", "basket.yaml",
                    "--snapshot", "basket.json"]
    (tmp_path / "basket.yaml").write_text(config)
    (tmp_path / "basket.json").write_text(snapshot)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert legs(doc) == [("QRL", "SELL", "2500", "rebalance_sell", False),
                         ("BTC", "BUY", "0.00375", "rebalance_buy", True)]
    assert (doc["total_value"], doc["drift"]) == ("1500", "0.25")


def test_without_a_snapshot_and_no_daemon_a_basket_exits_2(
        tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --snapshot the running basket's inputs are evaluated
    (tests/e2e/test_portfolio_plan_live.py); with no daemon's state, a clear refusal."""
    (tmp_path / "c.yaml").write_text(f"{CONFIG}redis:\n  url: {redis_url}\n")
    assert main(["plan", "-c", str(tmp_path / "c.yaml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: no state under key prefix" in captured.err
    assert "give --snapshot FILE" in captured.err
