"""The portfolio replay (daemon/backtest/portfolio_runner.py): hand-computed trades on two flat
series (STRATEGY.md v3 vectors P1 and P2: the SELL leg first, then the BUY sized from the quote
free after its fill), and a one-asset portfolio replaying exactly as the single-pair backtest
of its pair (decisions, trades, books and every point)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from daemon.backtest.portfolio_result import PortfolioRun
from daemon.backtest.portfolio_runner import LegMarket, PortfolioReplay, run_portfolio
from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import from_settings, parse_compare
from daemon.config import parse_settings
from daemon.domain.models import Candle, ExchangeRules

D = Decimal
T0 = 1_699_920_000_000  # a UTC midnight
M5 = 300_000
NO_LIMITS = {"min_trade_interval_s": 0, "max_order_notional": 10**9,
             "max_price_deviation_pct": 100, "max_spread_pct": None}


def flat(price: str, n: int = 4) -> tuple[Candle, ...]:
    p = D(price)
    return tuple(Candle(T0 + i * M5, p, p, p, p, D(1), T0 + (i + 1) * M5, p) for i in range(n))


def rules(asset: str, base_precision: int, fee: str) -> ExchangeRules:
    return ExchangeRules(f"{asset}USDT", asset, "USDT", base_precision, 5, D("0.000001"), D(1),
                         D(fee))


def two_pair_run(targets: dict[str, str], start: dict[str, str], fee: str,
                 fill: str = "close") -> PortfolioRun:
    """QRL at 0.05 (8 decimals) and BTC at 100000 (6 decimals), symmetric, threshold 0.01,
    evaluated at every close; fills at the close (no slippage)."""
    settings = parse_settings({
        "strategy": {"name": "symmetric", "threshold": 0.01},
        "risk": NO_LIMITS, "execution": {"slippage_pct": 0},
        "schedule": {"interval_s": 300, "evaluate_on_crossover": False},
        "portfolio": {"quote": "USDT", "targets": targets}})
    legs = (LegMarket("QRL", D(targets["QRL"]), rules("QRL", 8, fee), flat("0.05"), 0,
                      D(start["QRL"])),
            LegMarket("BTC", D(targets["BTC"]), rules("BTC", 6, fee), flat("100000"), 0,
                      D(start["BTC"])))
    replay = PortfolioReplay("USDT", legs, tuple(c.open_time_ms for c in flat("1")), M5,
                             D(start["USDT"]), fill)
    result = run_portfolio(replay, [from_settings("config", settings)])
    assert [r.name for r in result.runs] == ["config", "hold"]
    return result.runs[0]


def trades(run: PortfolioRun) -> list[tuple[str, int, str, Decimal, Decimal]]:
    return [(leg.asset, (t.time_ms - T0) // 1000, t.side, t.qty, t.quote)
            for leg in run.data.legs for t in leg.trades]


def test_p1_sells_qrl_then_buys_btc_with_the_quote_it_freed() -> None:
    run = two_pair_run({"QRL": "0.25", "BTC": "0.25"},
                       {"QRL": "10000", "BTC": "0", "USDT": "1000"}, fee="0")
    # V = 10000 * 0.05 + 1000 = 1500; QRL holds 500 for a target of 375: SELL 2500 QRL
    # (125 USDT); BTC holds 0 for 375: BUY 0.00375 BTC, at the first close (300 s)
    assert trades(run) == [("QRL", 300, "SELL", D(2500), D(125)),
                           ("BTC", 300, "BUY", D("0.00375"), D(375))]
    qrl, btc = run.data.legs
    assert [(d.action, d.qty, d.reason_code) for d in (qrl.decisions[0],
                                                        btc.decisions[0])] == [
        ("SELL", D(2500), "rebalance_sell"), ("BUY", D("0.00375"), "rebalance_buy")]
    # every later evaluation holds: the mix is on target
    assert {d.reason_code for leg in (qrl, btc) for d in leg.decisions[1:]} == {
        "within_threshold"}
    assert run.data.final_quote == D(750)  # 1000 + 125 - 375
    assert (qrl.final_qty, btc.final_qty) == (D(7500), D("0.00375"))
    assert [(s.asset, s.final_value, s.trades) for s in run.legs] == [
        ("QRL", D(375), 1), ("BTC", D(375), 1)]
    assert run.total.final_value == D(1500) and run.total.max_drift_pts == D(0)
    assert btc.books.cost.avg_cost == D(100000) and qrl.books.cost.realized_pnl == 0


def test_p2_the_buy_is_sized_from_the_quote_free_after_the_sell_and_its_fee() -> None:
    run = two_pair_run({"QRL": "0.5", "BTC": "0.5"},
                       {"QRL": "20000", "BTC": "0", "USDT": "0"}, fee="0.001")
    # SELL 10000 QRL at 0.05: 500 USDT less the 0.5 fee, 499.5 free; the BUY wanted 0.005 BTC
    # (500.5 with its fee): sized from 499.5, 499.5 / (100000 * 1.001) -> 0.004990
    assert trades(run)[:2] == [("QRL", 300, "SELL", D(10000), D(500)),
                               ("BTC", 300, "BUY", D("0.00499"), D(499))]
    qrl, btc = run.data.legs
    assert qrl.trades[0].fee_quote == D("0.5")
    assert btc.decisions[0].qty == D("0.004990")
    # the BUY's fee is paid in BTC: 0.004990 - 0.00000499
    assert btc.final_qty == D("0.00498501")
    assert run.data.final_quote == D("0.5")  # 499.5 - 499
    assert run.total.fees_quote == D("0.5") + D("0.00000499") * 100000


def test_the_buy_goes_out_once_the_sell_is_final_sized_from_its_real_proceeds() -> None:
    """The simulator's matching: the SELL of 50000 QRL takes the best bid's level at once and
    rests for the rest, which fills level by level (one level per simulated second) until
    312 s; only then does the BUY go out, sized from the 2499.5 USDT the sell really brought
    (at 0.04999), not from the 2500 it was expected to."""
    run = two_pair_run({"QRL": "0.5", "BTC": "0.5"},
                       {"QRL": "100000", "BTC": "0", "USDT": "0"}, fee="0", fill="sim")
    qrl, btc = run.data.legs
    (sell,), (buy,) = qrl.trades, btc.trades
    assert ((sell.time_ms - T0) // 1000, sell.side, sell.qty, sell.quote) == (
        300, "SELL", D(50000), D("2499.5"))
    assert (qrl.decisions[0].qty, btc.decisions[0].qty) == (D(50000), D("0.024995"))
    assert ((buy.time_ms - T0) // 1000, buy.side) == (312, "BUY")
    # priced on the book's ask, re-clamped to the free quote as the executor does
    assert buy.qty == D("0.024988") and buy.quote <= sell.quote
    assert run.data.final_quote == sell.quote - buy.quote


def wave(n: int = 700) -> tuple[Candle, ...]:
    """A wave around 0.05 with a 10 % swing, highs and lows around the path."""
    out = []
    for i in range(n):
        c = D(repr(round(0.05 * (1 + 0.1 * math.sin(i / 16)), 5)))
        o = D(repr(round(0.05 * (1 + 0.1 * math.sin((i - 1) / 16)), 5)))
        out.append(Candle(T0 + i * M5, o, max(o, c) + D("0.0001"), min(o, c) - D("0.0001"), c,
                          D(1000), T0 + (i + 1) * M5, c * 1000))
    return tuple(out)


@pytest.mark.parametrize("fill", ["sim", "close"])
def test_a_one_asset_portfolio_replays_as_the_single_pair_backtest(fill: str) -> None:
    config: dict[str, Any] = {"risk": {"min_trade_interval_s": 0},
                              "strategy": {"initial_cost_basis": "0.048"}}
    settings = parse_settings(config)
    spec = from_settings("config", settings)
    specs = [spec, parse_compare("symmetric:0.02", spec), parse_compare("calendar:24h", spec)]
    qrl = ExchangeRules("QRLUSDT", "QRL", "USDT", 2, 5, D("0.01"), D(1), D("0.0005"))
    candles = wave()
    warmup = 100
    single = run_backtest(Replay(qrl, candles, M5, 0, D(10000), D(500), fill, warmup=warmup),
                          specs)
    times = tuple(c.open_time_ms for c in candles[warmup:])
    basket = run_portfolio(PortfolioReplay(
        "USDT", (LegMarket("QRL", D("0.5"), qrl, candles, warmup, D(10000)),), times, M5,
        D(500), fill), specs)
    assert [r.name for r in single.runs] == [r.name for r in basket.runs]
    assert sum(r.summary.trades for r in single.runs) > 10
    for one, many in zip(single.runs, basket.runs, strict=True):
        leg = many.data.legs[0]
        assert leg.decisions == one.decisions, one.name
        assert leg.trades == one.trades, one.name
        assert (leg.final_qty, many.data.final_quote) == (one.final_base, one.final_quote)
        assert leg.books == one.final_books
        assert [p.value for p in many.data.points] == [p.value for p in one.points]
        assert [p.weights[0] for p in many.data.points] == [p.base_weight for p in one.points]
        s, t = one.summary, many.total
        assert (t.trades, t.fees_quote, t.turnover_quote, t.final_value, t.return_pct,
                t.return_vs_hold_pts, t.max_drawdown_pct, t.avg_drift_pts, t.max_drift_pts) == (
            s.trades, s.fees_quote, s.turnover_quote, s.final_value, s.return_pct,
            s.return_vs_hold_pts, s.max_drawdown_pct, s.avg_drift_pts, s.max_drift_pts)
        assert many.legs[0].reason_counts == s.reason_counts
