"""Websocket ingest cost per kline push: decode + window + MA + crossover (MarketFeed.ingest),
next to bare protobuf decoding of the same frames, measured in the same run.

    .venv/bin/python bench/bench_ingest.py [--series ETH_BTC] [--pushes 300 60 5]

Frames are real MEXC-shaped PushDataV3ApiWrapper kline pushes built from ../shared/data: each
5-minute candle is pushed N times (partial states, then the final one), so one push in N closes
a candle and moves the averages. MEXC pushes the forming kline about once a second while the
market trades (N = 300); smaller N stresses the per-candle work (Decimal parsing, rolling sums,
trend, crossover). Target: the whole path within 3x bare decoding."""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExchangeSettings, Settings
from daemon.runtime.market_feed import MarketFeed

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CHANNEL = "spot@public.kline.v3.api.pb@QRLUSDT@Min5"
_from_string = PushDataV3ApiWrapper.FromString


def build_frames(path: Path, pushes: int, rescale: Decimal,
                 limit: int | None = None) -> list[bytes]:
    frames: list[bytes] = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh)):
            if limit is not None and n >= limit:
                break
            start_s = int(row["open_time_ms"]) // 1000
            o, h, lo, c = (Decimal(row[k]) * rescale for k in ("open", "high", "low", "close"))
            for i in range(1, pushes + 1):
                close = c if i == pushes else o + (c - o) * i / pushes
                msg = PushDataV3ApiWrapper(channel=CHANNEL, symbol="QRLUSDT",
                                           symbolId="2fb942154ef44a4ab2ef98c8afb6a4a7",
                                           createTime=start_s * 1000 + i)
                k = msg.publicSpotKline
                k.interval = "Min5"
                k.windowStart = start_s
                k.windowEnd = start_s + 300
                k.openingPrice = str(o.normalize())
                k.closingPrice = str(close.quantize(Decimal("0.00000001")).normalize())
                k.highestPrice = str(h.normalize())
                k.lowestPrice = str(lo.normalize())
                k.volume = row["volume"]
                k.amount = row["quote_volume"]
                frames.append(msg.SerializeToString())
    return frames


def new_feed() -> MarketFeed:
    settings = Settings(exchange=ExchangeSettings())
    return MarketFeed(settings, MexcRest(settings.exchange, None), backfill=200)


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Best of ``repeat`` runs: (seconds, count from the last run)."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return best, count


def measure(frames: list[bytes], repeat: int) -> tuple[float, float, float, int, int]:
    """(bare us/push, ingest us/push, interleaved median ratio, candles closed, crossovers)"""

    def bare() -> int:
        for f in frames:
            _from_string(f)
        return len(frames)

    counts = [0, 0]

    def whole() -> int:
        feed = new_feed()  # a fresh window per run: every run closes every candle
        ingest = feed.ingest
        closed = events = 0
        for f in frames:
            update = ingest(f)
            if update is not None:
                closed += len(update.closed)
                events += sum(1 for c in update.closed if c.crossover is not None)
        counts[:] = [closed, events]
        return len(frames)

    t_bare, n = timed(bare, repeat)
    t_whole, _ = timed(whole, repeat)
    ratios = []
    for _ in range(3):  # interleaved re-measure: the ratio is what matters on a shared CPU
        a, _ = timed(bare, 1)
        b, _ = timed(whole, 1)
        ratios.append(b / a)
    return t_bare / n * 1e6, t_whole / n * 1e6, statistics.median(ratios), counts[0], counts[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="ETH_BTC")
    ap.add_argument("--pushes", type=int, nargs="+", default=[300, 60, 5],
                    help="pushes per 5m candle (MEXC: one a second while trading = 300)")
    ap.add_argument("--frames", type=int, default=120_000, help="frames per measurement")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    path = DATA / f"{args.series}-5m.csv"
    if not path.is_file():
        print(f"error: {path} not found (../shared/data beside the checkout)", file=sys.stderr)
        return 2
    print(f"kline push ingest, {args.series}; best of {args.repeat}; target: ingest <= 3x bare")
    print(f"{'pushes/candle':>13} {'frames':>8} {'closed':>7} {'xovers':>6} "
          f"{'bare us':>8} {'ingest us':>9} {'ratio':>6} {'median':>6}")
    for pushes in args.pushes:
        frames = build_frames(path, pushes, Decimal(500), limit=max(args.frames // pushes, 30))
        bare_us, whole_us, median, closed, events = measure(frames, args.repeat)
        print(f"{pushes:>13} {len(frames):>8} {closed:>7} {events:>6} {bare_us:>8.2f} "
              f"{whole_us:>9.2f} {whole_us / bare_us:>5.2f}x {median:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
