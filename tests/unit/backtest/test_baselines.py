"""The replay on tiny hand-made series, values asserted: buy-and-hold keeps its quantities,
calendar:24h trades back to the target once a day, a trend makes the default (MA-gated)
strategy drift while symmetric:0.02 stays in its band, and the simulator's fill model takes
the synthesized book's levels (slippage) where the close model fills at the close."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from daemon.backtest.fills import ExecParams
from daemon.backtest.result import BacktestResult, StrategyRun
from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import from_settings, parse_compare, split_value
from daemon.config import parse_settings
from daemon.domain.models import Candle, ExchangeRules

D = Decimal
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000
DAY = 86_400_000
RULES = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D(0))


def candles(closes: list[Decimal]) -> tuple[Candle, ...]:
    return tuple(Candle(T0 + i * M5, c, c, c, c, D(100), T0 + (i + 1) * M5, c * 100)
                 for i, c in enumerate(closes))


def backtest(closes: list[Decimal], compare: list[str], *, fill: str = "close",
             value: str = "1000", rules: ExchangeRules = RULES,
             balances: tuple[Decimal, Decimal] | None = None,
             **config: Any) -> BacktestResult:
    settings = parse_settings({"execution": {"slippage_pct": 0}, **config})
    series = candles(closes)
    base, quote = balances or split_value(D(value), settings.strategy.ratio, series[0].close,
                                          rules)
    replay = Replay(rules, series, M5, 0, base, quote, fill)
    spec = from_settings("config", settings)
    return run_backtest(replay, [spec, *(parse_compare(c, spec) for c in compare)])


def run(result: BacktestResult, name: str) -> StrategyRun:
    return next(r for r in result.runs if r.name == name)


def test_hold_keeps_its_quantities() -> None:
    closes = [D(1) + D(i) / 100 for i in range(60)]
    result = backtest(closes, ["hold"])
    hold = run(result, "hold")
    assert [r.name for r in result.runs] == ["config", "hold"]
    assert (hold.final_base, hold.final_quote) == (D(500), D(500))
    assert hold.trades == () and hold.decisions == ()
    assert [p.value for p in hold.points] == [500 * c + 500 for c in closes]
    assert hold.points[-1].base_weight == D("795.0") / D("1295.0")
    assert hold.summary.final_value == D("1295") and hold.summary.return_pct == D("29.5")


def test_calendar_24h_trades_back_to_the_target_once_a_day() -> None:
    # price 1 on day 0, 1.5 from the candle closing at the first midnight, 2 from the second
    closes = [D(1)] * 287 + [D("1.5")] * 288 + [D(2)] * 2
    cal = run(backtest(closes, ["calendar:24h"]), "calendar:24h")
    assert [(d.time_ms, d.trigger, d.action, d.qty) for d in cal.decisions] == [
        (T0 + DAY, "calendar", "SELL", D("83.33")),  # V 1250, delta 125 at 1.5
        (T0 + 2 * DAY, "calendar", "SELL", D("52.08")),  # V 1458.335, delta 104.1725 at 2
    ]
    assert [(t.side, t.qty, t.avg_price) for t in cal.trades] == [
        ("SELL", D("83.33"), D("1.5")), ("SELL", D("52.08"), D(2))]
    assert (cal.final_base, cal.final_quote) == (D("364.59"), D("729.155"))
    assert cal.summary.trades == 2 and cal.summary.turnover_quote == D("229.155")


def test_a_trend_makes_the_default_strategy_drift_and_symmetric_follow() -> None:
    closes = [(D(1) + D(i) / 300).quantize(D("0.00001")) for i in range(601)]
    result = backtest(closes, ["symmetric:0.02"])
    config, sym = run(result, "config"), run(result, "symmetric:0.02")
    # MA-gated: too much base wants a SELL, which needs a BEARISH trend: never in a rally
    assert config.summary.trades == 0
    assert config.summary.reason_counts["no_sell_signal"] > 150
    assert config.summary.max_drift_pts == D(25)  # 500 QRL at 3 against 500 USDT: 75 %
    assert sym.summary.trades > 10 and sym.summary.max_drift_pts < 3
    assert all(t.side == "SELL" and t.reason_code == "rebalance_sell" for t in sym.trades)
    assert sym.summary.avg_drift_pts < config.summary.avg_drift_pts


def test_sim_fills_take_the_book_levels_where_close_fills_at_the_close() -> None:
    rules = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D("0.0005"))
    closes = [D("0.05")] * 10
    kw: dict[str, Any] = {"rules": rules, "balances": (D(0), D(5000)),
                          "strategy": {"name": "symmetric"},
                          "execution": {"slippage_pct": "0.5"}}
    sim = run(backtest(closes, [], fill="sim", **kw), "config").trades[0]
    close = run(backtest(closes, [], fill="close", **kw), "config").trades[0]
    # max_order_notional 1000 caps the BUY at 20000 QRL; the close model fills it at the
    # close + 0.5 % slippage; the simulator walks its book's 200-USDT levels up from 0.05001
    assert (close.qty, close.avg_price) == (D(20000), D("0.05025"))
    assert close.fee_quote == D(20000) * D("0.0005") * D("0.05025")
    # levels 0.05001, 0.05004, 0.05006, ... (0.0005 apart, 200 USDT and more each), all
    # inside the limit 0.05025: the whole quantity, at a worse price than the best ask
    assert (sim.qty, sim.quote, sim.avg_price) == (D(20000), D("1000.840288"),
                                                   D("0.0500420144"))
    assert sim.fee_quote == D(20000) * D("0.0005") * sim.avg_price  # fee in QRL, valued


def test_exec_params_come_from_the_config() -> None:
    spec = from_settings("config", parse_settings({"execution": {"order_timeout_s": 30}}))
    assert spec.execution == ExecParams("marketable_limit", D("0.5"), 30.0)


def test_sim_fills_partially_and_the_remainder_is_canceled_at_the_timeout() -> None:
    rules = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D("1"), D(0))
    kw: dict[str, Any] = {"rules": rules, "balances": (D(0), D(50000)),
                          "strategy": {"name": "symmetric"},
                          "risk": {"max_order_notional": 20000},
                          "execution": {"slippage_pct": "0.5", "order_timeout_s": 30}}
    cfg = run(backtest([D("0.05")] * 4, [], fill="sim", **kw), "config")
    first = cfg.decisions[0]
    assert (first.action, first.qty) == ("BUY", D(400000))
    # the book holds about 6500 USDT up to the limit 0.05025 (levels 0.05001 + 0.00002 k,
    # 200 * (1 + k/4) USDT each); the rest rests at the limit and fills as maker at most one
    # level (about 200 USDT) per second of candle time; after 30 s it is canceled: the books
    # hold what filled
    trade = cfg.trades[0]
    assert D(6500) + 29 * 200 < trade.quote < D(6500) + 31 * 201 and trade.qty < D(400000)
    assert cfg.final_base == trade.qty
    assert cfg.final_quote == D(50000) - trade.quote
