"""Market models: interval windows, replay loading and rescaling, the intra-candle path, the
seeded random walk's regimes (MA7/MA25 crossovers on 5m candles every few hours)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.domain.models import Trend
from daemon.domain.signals import classify_trend, sma
from daemon.sim.market import MarketModel, RandomWalkMarket, ReplayMarket, window_of

D = Decimal
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC, a Tuesday


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def test_windows() -> None:
    assert window_of("5m", T0 + 1) == (T0 // 300_000 * 300_000, T0 // 300_000 * 300_000
                                       + 300_000)
    assert window_of("1d", T0) == (_ms(2023, 11, 14), _ms(2023, 11, 15))
    assert window_of("1W", T0) == (_ms(2023, 11, 13), _ms(2023, 11, 20))  # Monday 00:00
    assert window_of("1M", _ms(2024, 2, 29, 23)) == (_ms(2024, 2, 1), _ms(2024, 3, 1))
    assert window_of("1M", _ms(2023, 12, 5)) == (_ms(2023, 12, 1), _ms(2024, 1, 1))
    with pytest.raises(ValueError, match="unknown interval '1h'"):
        window_of("1h", T0)


def test_replay_rescale_history_and_path(shared_data: Path) -> None:
    spec = ReplayMarket(path=shared_data / "ETH_BTC-5m.csv", rescale="0.5", start_index=10,
                        end_index=20)
    m = MarketModel.build(spec, seed=1, price_decimals=5, real_now_ms=0)
    assert m.base_ms == 300_000 and len(m.bars) == 20 and m.end_ms == m.bars[-1].open_ms + 300_000
    assert m.start_ms == m.bars[10].open_ms and m.bars[0].open == D("0.0492")
    bar = m.bars[10]
    # the path: open at the start, close at the end, high and low touched inside
    assert m.price_at(bar.open_ms) == bar.open
    assert m.price_at(bar.open_ms + 299_999) in (bar.close, m.price_at(bar.open_ms + 299_999))
    lo, hi = m.range_between(bar.open_ms, bar.open_ms + 300_000)
    assert (lo, hi) == (bar.low, bar.high)
    # 1m candles from a 5m file add back up to the 5m candle
    ones = [m.candle("1m", bar.open_ms + i * 60_000, m.end_ms or 0) for i in range(5)]
    assert all(o is not None for o in ones)
    assert ones[0].open == bar.open and ones[-1].close == bar.close  # type: ignore[union-attr]
    assert max(o.high for o in ones if o) == bar.high and min(o.low for o in ones if o) == bar.low
    assert sum(o.volume for o in ones if o) == bar.volume
    # after the data: no candle, the price stays at the last close
    assert m.price_at(m.end_ms + 10**6) == m.bars[-1].close  # type: ignore[operator]
    assert not m.has_candle_at(m.end_ms + 1)  # type: ignore[operator]


def test_replay_bad_files_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,o\n1,2\n")
    with pytest.raises(ValueError, match="expected a header"):
        MarketModel.build(ReplayMarket(path=bad), seed=1, price_decimals=5, real_now_ms=0)
    bad.write_text("open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume\n"
                   "0,1,1,1,1,1,300000,1\n300000,x,1,1,1,1,600000,1\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: bad candle"):
        MarketModel.build(ReplayMarket(path=bad), seed=1, price_decimals=5, real_now_ms=0)
    ok = tmp_path / "ok.csv"
    ok.write_text("open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume\n"
                  "0,1,1,1,1,1,300000,1\n300000,1,1,1,1,1,600000,1\n")
    with pytest.raises(ValueError, match="start_index 5"):
        MarketModel.build(ReplayMarket(path=ok, start_index=5), seed=1, price_decimals=5,
                          real_now_ms=0)


def test_random_walk_is_seeded_and_starts_at_its_price() -> None:
    def build(seed: int) -> MarketModel:
        return MarketModel.build(RandomWalkMarket(start_price="0.05", history_candles=500),
                                 seed=seed, price_decimals=5, real_now_ms=T0)

    a, b, c = build(1), build(1), build(2)
    assert a.start_ms == T0 // 300_000 * 300_000 and a.start_ms - a.bars[0].open_ms == 500 * 60_000
    assert abs(a.price_at(a.start_ms) - D("0.05")) <= D("0.00002")
    a.price_at(a.start_ms + 3_600_000)
    b.price_at(b.start_ms + 3_600_000)
    assert a.bars == b.bars and a.bars[:500] != c.bars[:500]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk_crossovers_every_few_hours(seed: int) -> None:
    m = MarketModel.build(RandomWalkMarket(history_candles=5000), seed=seed, price_decimals=5,
                          real_now_ms=T0)
    closes = [b.close for b in m.klines("5m", m.start_ms - 1, start_ms=None, end_ms=None,
                                         limit=1000)]
    assert len(closes) == 1000  # 83 hours
    trends = []
    for i in range(25, len(closes) + 1):
        short, long_ = sma(closes[:i], 7), sma(closes[:i], 25)
        assert short is not None and long_ is not None
        trends.append(classify_trend(short, long_, D(0)))
    crosses = [t for p, t in itertools.pairwise(trends) if t != p]
    hours = len(closes) * 5 / 60
    assert 83 / 8 <= len(crosses) <= 83  # between one per 8 hours and one per hour
    assert Trend.BULLISH in crosses and Trend.BEARISH in crosses
    assert hours == pytest.approx(83.3, abs=0.1)
    assert D("0.025") < min(closes) and max(closes) < D("0.1")  # regimes lean back home
