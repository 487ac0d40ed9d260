"""Parity (issue 13): the real daemon (`rebalancer run`, mode live) against the simulator
replaying a series, and the backtest on the same series with the same fill model, make the
same decisions and end with the same books.

How the daemon is run: ``tests.support.parity`` (lockstep over a paused simulator clock, the
daemon deciding at each crossover). What differs between the two sides and why:

1. Scheduled evaluations. The daemon's ``schedule.interval_s`` runs on the local clock
   (APScheduler, aligned to wall-clock multiples of the interval); the backtest's on candle
   time. Against the real exchange the two clocks are one; against an accelerated or paused
   simulator they are not, so this run leaves the schedule out (86400 s, no wall-clock UTC
   midnight inside the run, none in candle time inside the replayed day) and compares the
   crossover-triggered decisions, which both sides take from the data.
2. The risk clocks. Cooldown (``min_trade_interval_s``), trades per UTC day and staleness
   compare the daemon's local clock with the time it booked the last trade; the backtest uses
   candle time. They are off here (0, 100000, 60 s of a market that pushes every 20 ms).
3. The decision price. The daemon decides on the latest trade price: right after a candle
   closes, the first price of the next candle; the backtest on the close of the candle that
   closed. The test series opens every candle at the previous close, so they are equal here.
4. The starting cost basis. Unset, the daemon takes it from the account's recent trades (none
   in a fresh simulator: unknown); the backtest from the first close. The config sets
   ``strategy.initial_cost_basis`` so both start from the same one.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.domain.models import Fill
from tests.support.fixtures import SHARED_DATA
from tests.support.market_series import load_csv
from tests.support.parity import (
    INTERVAL_MS,
    DaemonRun,
    ParitySetup,
    crossover_closes,
    lockstep,
    run_backtest_like,
    run_daemon,
    shape_series,
    write_series,
)

HISTORY = 200  # candles of backfilled history before the replay starts
REPLAY = 240  # 20 hours of 5-minute candles, inside one UTC day
FIRST_OPEN_MS = 1_709_600_400_000 - HISTORY * INTERVAL_MS  # the replay starts 2024-03-05 01:00Z

STRATEGIES = {
    # the default strategy: trend and cost gates, core floor
    "intelligent": {"name": "intelligent", "ratio": "0.5", "threshold": "0.004",
                    "profit_target": "0.005"},
    "symmetric": {"name": "symmetric", "ratio": "0.5", "threshold": "0.004"},
}
BALANCES = {"QRL": "10000", "USDT": "500"}
CASES = [("written", "intelligent"), ("written", "symmetric"), ("ETH_BTC", "intelligent")]


def parity_setup(tmp_path: Path, series: str, strategy: str) -> ParitySetup:
    """The series (``written``: seeded by the test; ``ETH_BTC``: 440 candles of that file in
    ../shared, halved to about 0.045, skipped without ../shared), the daemon's config."""
    path = tmp_path / "parity-5m.csv"
    if series == "written":
        candles = write_series(path, first_open_ms=FIRST_OPEN_MS, count=HISTORY + REPLAY,
                               seed=7, trend=0.004, volatility=0.004)
    else:
        if not SHARED_DATA.is_dir():
            pytest.skip(f"{SHARED_DATA} not present")
        candles = shape_series(SHARED_DATA / f"{series}-5m.csv", path,
                               first_open_ms=FIRST_OPEN_MS, start=0, count=HISTORY + REPLAY,
                               rescale="0.5")
    config = {
        "schedule": {"interval_s": 86_400, "evaluate_on_crossover": True},
        "strategy": {**STRATEGIES[strategy],
                     "initial_cost_basis": str(candles[HISTORY - 1].close)},
        "risk": {"min_trade_interval_s": 0, "max_trades_per_day": 100_000,
                 "min_notional": 1, "max_price_deviation_pct": 100, "stale_after_s": 60},
        "health": {"heartbeat_interval_s": 0.25},
    }
    return ParitySetup(csv=path, start_index=HISTORY, balances=BALANCES, config=config)


@pytest.mark.parametrize(("series", "strategy"), CASES)
async def test_daemon_and_backtest_make_the_same_decisions_and_books(
        redis_url: str, tmp_path: Path, series: str, strategy: str) -> None:
    """The daemon decides once per crossover, on that candle's close; the backtest (fill model
    ``sim``) makes the same decisions (time, trigger, action, quantity, reason code, in order),
    the same orders (side, quantity filled, quote amount) and ends with the same books: cost
    basis, realized PnL, core floor, trades, balances."""
    setup = parity_setup(tmp_path, series, strategy)
    run = await run_daemon(setup, redis_url, tmp_path)
    candles = load_csv(setup.csv)
    steps = crossover_closes(candles, HISTORY, 7, 25)
    assert [d.time_ms for d in run.decisions] == [candles[i].close_time_ms for i in steps]
    assert [d.trigger for d in run.decisions] == ["crossover"] * len(steps)
    assert list(run.prices) == [candles[i].close for i in steps]  # difference 3
    assert len(steps) >= 8 and {d.action for d in run.decisions} == {"BUY", "SELL", "HOLD"}

    backtest = run_backtest_like(setup, tmp_path / "parity.yaml", "sim")
    assert backtest.decisions == run.decisions
    assert [(t.time_ms, t.side, t.qty, t.quote) for t in backtest.trades] == orders_of(run)
    books = backtest.final_books
    assert books is not None and books.cost.avg_cost is not None
    assert run.books.avg_cost is not None
    # the same figures; the last of their 50 significant digits depend on the order in which
    # fills of one instant are applied (by trade id, which the two exchanges name apart)
    assert abs(books.cost.avg_cost - run.books.avg_cost) < Decimal("1e-18")
    assert abs(books.cost.realized_pnl - run.books.realized_pnl) < Decimal("1e-18")
    assert books.cost.qty == run.books.qty_covered
    assert books.core_floor == backtest.final_core_floor == run.books.core_floor
    assert books.counters.trades_total == run.books.trades_total == len(backtest.trades)
    assert (backtest.final_base, backtest.final_quote) == (run.books.base, run.books.quote)


def orders_of(run: DaemonRun) -> list[tuple[int, str, Decimal, Decimal]]:
    """The daemon's orders as the backtest's trade marks: (time, side, base filled, quote)."""
    by_order: dict[str, list[Fill]] = {}
    for f in run.fills:
        by_order.setdefault(f.order_id, []).append(f)
    return sorted((fills[0].time_ms, fills[0].side.value, sum(f.qty for f in fills),
                   sum(f.quote_qty for f in fills)) for fills in by_order.values())


async def test_the_schedule_runs_on_the_local_clock(redis_url: str, tmp_path: Path) -> None:
    """Difference 1, shown: with the simulator's clock standing still (no candle closes), the
    daemon still evaluates every ``schedule.interval_s`` of local time, on the same candles
    and the same price each time; a replay in candle time would not evaluate at all."""
    setup = parity_setup(tmp_path, "written", "symmetric")
    setup.config["schedule"] = {"interval_s": 1, "evaluate_on_crossover": True}
    async with lockstep(setup, redis_url, tmp_path) as run:
        candle_time = run.sim.now_ms()
        await run.wait_settled(3)
        await run.stop()
        plans = await run.plans()
        assert run.sim.now_ms() == candle_time
    assert len(plans) >= 3
    assert {p["trigger"] for p in plans} == {"schedule"}
    assert len({(p["price"], p["figures"]["ma_short"], p["figures"]["ma_long"])
                for p in plans}) == 1
    local_ms = [p["time_ms"] for p in plans]
    assert all(later - earlier >= 500 for earlier, later in itertools.pairwise(local_ms))
