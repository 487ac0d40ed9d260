"""Parity (issue 13): the real daemon (`rebalancer run`, mode live) against the simulator
replaying a series, and the backtest (``daemon.backtest``, fill model ``sim``) on the same
series, make the same decisions (candle time, trigger, action, quantity, reason code, in order),
send the same orders and end with the same books (cost basis, realized PnL, core floor, trade
count, balances).

How the daemon is run: ``tests.support.parity`` (lockstep: the simulator's clock is paused and
moved by the test to the close of each candle that makes a crossover; the daemon decides, its
order meets the book of that instant, the test waits until it is booked). The backtest replays
the same file, the candles before the daemon's start only filling the window
(``Replay.warmup``, as the daemon's backfill does).

What differs between the two sides, and why; each is either made equal here or shown by a test:

1. Scheduled evaluations (``test_the_schedule_runs_on_the_local_clock``). The daemon's
   ``schedule.interval_s`` runs on its own clock (APScheduler, aligned to multiples of the
   interval since the epoch); the backtest's on candle time. Against the real exchange they are
   one clock; against a paused or accelerated simulator they are not, so the parity runs leave
   the schedule out (86400 s: no UTC midnight inside the run on either clock) and compare the
   crossover decisions, which both sides take from the data. (Against the real exchange, a
   scheduled evaluation at an aligned instant T fires as the candle closing at T closes: the
   daemon's window does not hold that candle yet, its first push of the next window comes
   after T; the backtest decides on that same window: tests/unit/backtest/test_warmup.py.)
2. The risk clocks (``test_the_cooldown_runs_on_the_local_clock``). Cooldown
   (``min_trade_interval_s``), trades per UTC day and staleness compare the daemon's own clock
   with the time it booked the last trade (on purpose: ``daemon.domain.books``); the backtest
   uses candle time. Off in the parity runs (0, 100000, 60 s of a market pushed every 20 ms).
3. The decision price. The daemon decides on the latest trade price: right after a candle
   closes, the first price of the next candle; the backtest on the close of the candle that
   closed. The series here open every candle at the previous close and stay flat for its first
   third (``parity._write``), so both are the close (asserted).
4. The starting cost basis. Unset, the daemon takes it from the account's recent trades (none
   in a fresh simulator: unknown); the backtest from the first close. The runs set
   ``strategy.initial_cost_basis``.
5. An order's remainder. The daemon cancels it after ``execution.order_timeout_s`` of its own
   clock, the backtest after that much candle time, during which the price path moves; the
   paused simulator does not. Every order here fills at once from the book (they are small
   against it), as both sides' fills show.
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
CASES = [("written", "intelligent"), ("written", "symmetric"), ("ETH_BTC", "intelligent"),
         ("ETH_BTC", "symmetric")]


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


async def test_the_cooldown_runs_on_the_local_clock(redis_url: str, tmp_path: Path) -> None:
    """Difference 2, shown: with a one-hour cooldown, the daemon's second trade comes seconds
    of its own clock after the first (hours of candle time later) and holds ``cooldown``; the
    backtest, counting the cooldown in candle time, trades there. Until then they agree."""
    setup = parity_setup(tmp_path, "written", "symmetric")
    setup.config["risk"]["min_trade_interval_s"] = 3600
    run = await run_daemon(setup, redis_url, tmp_path)
    backtest = run_backtest_like(setup, tmp_path / "parity.yaml", "sim")
    trades = [i for i, d in enumerate(backtest.decisions) if d.action != "HOLD"]
    assert len(trades) >= 2
    first, second = trades[0], trades[1]
    assert backtest.decisions[second].time_ms - backtest.decisions[first].time_ms > 3_600_000
    assert run.decisions[:second] == backtest.decisions[:second]
    held = run.decisions[second]
    assert (held.time_ms, held.action, held.reason_code) == (
        backtest.decisions[second].time_ms, "HOLD", "cooldown")
