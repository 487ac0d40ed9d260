"""Klines as the real MEXC serves them (at most 500 rows, startTime needs endTime, endTime
exclusive; the simulator's realistic defaults): ranges and backfills longer than one answer
are read in checked windows and equal the exchange's own rows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daemon.adapters.mexc.rest import MexcRest
from daemon.config import Settings, StrategySettings
from daemon.domain.candles import offline_series
from daemon.runtime.market_feed import MarketFeed
from daemon.sim import RandomWalkMarket, SimConfig, Simulator
from tests.support.sim_settings import creds_for, settings_for

MINUTE = 60_000


async def test_a_range_of_1200_candles_is_read_in_windows_of_500(rest: MexcRest,
                                                                msim: Simulator) -> None:
    now = msim.now_ms() // MINUTE * MINUTE
    start, end = now - 1300 * MINUTE, now - 100 * MINUTE
    got = await rest.klines_range(msim.cfg.symbol, "Min1", start, end)
    truth = msim.markets[msim.cfg.symbol].klines("1m", msim.now_ms(), start_ms=start,
                                                   end_ms=end - 1, limit=1000)
    truth += msim.markets[msim.cfg.symbol].klines("1m", msim.now_ms(),
                                                    start_ms=truth[-1].open_ms + MINUTE,
                                                    end_ms=end - 1, limit=1000)
    assert [r.open_time_ms for r in got.rows] == list(range(start, end, MINUTE))
    assert [(r.open_time_ms, r.close) for r in got.rows] == \
           [(b.open_ms, Decimal(str(b.close))) for b in truth]
    assert got.gaps == [] and got.requests == 3


async def test_start_without_end_is_refused_before_it_reaches_the_exchange(
        rest: MexcRest) -> None:
    with pytest.raises(ValueError, match="startTime without endTime"):
        await rest.klines("QRLUSDT", "Min1", start_ms=0)
    with pytest.raises(ValueError, match="at most 500"):
        await rest.klines("QRLUSDT", "Min1", limit=1000)


async def test_a_backfill_longer_than_one_answer_makes_the_window_ready() -> None:
    """MA_long 520 needs 522 candles; the exchange answers 500 at most. Before paging the window
    stayed short of MA_long forever: NO SIGNAL."""
    cfg = SimConfig(seed=11, speed=60.0, market=RandomWalkMarket(history_candles=2000))
    async with Simulator(cfg, port=0) as sim:
        base = settings_for(sim, kline_interval="Min1")
        settings = Settings.model_validate({
            **base.model_dump(), "strategy": StrategySettings(ma_short=7, ma_long=520)})
        async with MexcRest(settings.exchange, creds_for(sim)) as rest:
            feed = MarketFeed(settings, rest, poll_interval_s=3600)
            await feed.backfill()
            window = feed.window
            assert len(window) == 521 and window.ready  # 522 rows, the newest is forming
            last = window.last_closed
            assert last is not None
            got = await rest.klines_range(sim.cfg.symbol, "Min1",
                                          last.open_time_ms - 600 * MINUTE,
                                          last.open_time_ms + MINUTE)
    ref = offline_series(got.rows, 7, 520)[-1]
    assert ref.candle == last
    assert (window.ma_short, window.ma_long) == (ref.ma_short, ref.ma_long)
