"""Websocket kline push cost on the daemon's real on-push path (the market feed's push handler:
lock, decode + window + MA + crossover, report, log), next to bare protobuf decoding of the same
frames, interleaved round by round in the same run (issue 20).

    .venv/bin/python bench/bench_ingest.py [--pushes 300 5] [--rounds 5] [--series ETH_BTC]

Frames are MEXC-shaped PushDataV3ApiWrapper kline pushes: each 5-minute candle is pushed N
times (partial states, then the final one), so one push in N closes a candle and moves the
averages. MEXC pushes the forming kline about once a second while the market trades (N = 300);
N = 5 stresses the per-candle work. The candles are a seeded random walk; ``--series NAME``
reads ``../shared/data/NAME-5m.csv`` instead (optional: not on a fresh clone).
  bare      ``PushDataV3ApiWrapper.FromString`` of every frame (the floor)
  on-push   ``MarketFeed._on_push`` of every frame (what the websocket reader awaits), logging
            at the daemon's default level (INFO) into /dev/null, no crossover listener
  ingest()  ``MarketFeed.ingest`` alone (what the bench timed before; shown, not judged)
Targets: on-push <= 2x bare at 300 pushes per candle, <= 3x at 5."""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import statistics
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from benchkit import Verdict, daemon_logs_to_devnull, spread, verdict

from daemon.adapters.mexc.proto.mexc_push_pb2 import PushDataV3ApiWrapper
from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExchangeSettings, Settings
from daemon.runtime.market_feed import MarketFeed

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CHANNEL = "spot@public.kline.v3.api.pb@QRLUSDT@Min5"
TARGETS = {300: 2.0, 5: 3.0}  # pushes per candle -> the most on-push may cost, x bare
_from_string = PushDataV3ApiWrapper.FromString
Row = tuple[int, Decimal, Decimal, Decimal, Decimal, str, str]  # start s, o, h, l, c, vol, amt


def walk(n: int, seed: int = 7) -> Iterator[Row]:
    """``n`` seeded random-walk 5-minute candles around 0.2 (QRL's scale)."""
    rnd, price, start = random.Random(seed), 0.2, 1_700_000_000
    for i in range(n):
        o = price
        c = max(o * (1 + rnd.gauss(0, 0.004)), 0.0001)
        h = max(o, c) * (1 + abs(rnd.gauss(0, 0.001)))
        lo = min(o, c) * (1 - abs(rnd.gauss(0, 0.001)))
        q = Decimal("0.00000001")
        yield (start + i * 300, *(Decimal(x).quantize(q) for x in (o, h, lo, c)),
               f"{rnd.uniform(1e3, 1e5):.2f}", f"{rnd.uniform(1e2, 1e4):.4f}")
        price = c


def csv_rows(path: Path, n: int) -> Iterator[Row]:
    with path.open(newline="") as fh:
        for k, row in enumerate(csv.DictReader(fh)):
            if k >= n:
                return
            scale = Decimal(500)
            o, h, lo, c = (Decimal(row[x]) * scale for x in ("open", "high", "low", "close"))
            yield (int(row["open_time_ms"]) // 1000, o, h, lo, c, row["volume"],
                   row["quote_volume"])


def build_frames(rows: Iterator[Row], pushes: int) -> list[bytes]:
    frames: list[bytes] = []
    for start_s, o, h, lo, c, vol, amount in rows:
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
            k.volume = vol
            k.amount = amount
            frames.append(msg.SerializeToString())
    return frames


def new_feed() -> MarketFeed:
    settings = Settings(exchange=ExchangeSettings())
    return MarketFeed(settings, MexcRest(settings.exchange, None), backfill=200)


def bare(frames: list[bytes]) -> float:
    t0 = time.perf_counter()
    for f in frames:
        _from_string(f)
    return time.perf_counter() - t0


async def on_push(frames: list[bytes]) -> tuple[float, int]:
    """Seconds for every frame through a fresh feed's push handler, and candles closed."""
    feed = new_feed()
    handler = feed._on_push
    t0 = time.perf_counter()
    for f in frames:
        await handler(f)
    return time.perf_counter() - t0, feed.stats.closed_from_stream


def ingest_only(frames: list[bytes]) -> float:
    ingest = new_feed().ingest
    t0 = time.perf_counter()
    for f in frames:
        ingest(f)
    return time.perf_counter() - t0


async def measure(frames: list[bytes], rounds: int) -> dict[str, list[float]]:
    """Per round, interleaved: bare, on-push and ingest() seconds, and on-push / bare."""
    out: dict[str, list[float]] = {"bare": [], "push": [], "ingest": [], "ratio": []}
    closed = 0
    for _ in range(rounds):
        b = bare(frames)
        p, closed = await on_push(frames)
        i = ingest_only(frames)
        out["bare"].append(b)
        out["push"].append(p)
        out["ingest"].append(i)
        out["ratio"].append(p / b)
    out["closed"] = [float(closed)]
    return out


async def main(args: argparse.Namespace) -> int:
    daemon_logs_to_devnull()
    print(f"kline push cost, {args.series}; {args.rounds} interleaved rounds; "
          f"floor: bare protobuf decode of the same frames")
    print(f"{'pushes/candle':>13} {'frames':>8} {'closed':>7} {'bare us':>8} "
          f"{'on-push us':>10} {'ingest() us':>11} {'ratio':>6} {'rounds':>11} {'target':>7}")
    ok = True
    for pushes in args.pushes:
        candles = max(args.frames // pushes, 30)
        if args.series == "walk":
            rows: Iterator[Row] = walk(candles)
        else:
            rows = csv_rows(DATA / f"{args.series}-5m.csv", candles)
        frames = build_frames(rows, pushes)
        m = await measure(frames, args.rounds)
        n = len(frames)
        b, p, i = (statistics.median(m[k]) / n * 1e6 for k in ("bare", "push", "ingest"))
        ratio = statistics.median(m["ratio"])
        limit = TARGETS.get(pushes)
        print(f"{pushes:>13} {n:>8} {int(m['closed'][0]):>7} {b:>8.2f} {p:>10.2f} {i:>11.2f} "
              f"{ratio:>5.2f}x {spread(m['ratio']):>11} "
              f"{'-' if limit is None else f'<= {limit:g}x':>7}", flush=True)
        if limit is not None:
            ok &= verdict(Verdict(
                "bench_ingest", f"kline push on-push path, {pushes} pushes/candle",
                f"{p:.2f} us/push", f"{b:.2f} us bare decode", f"{ratio:.2f}x",
                spread(m["ratio"]), f"<= {limit:g}x", ratio <= limit))
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="walk",
                    help="'walk' (seeded random walk, the default) or a ../shared/data series")
    ap.add_argument("--pushes", type=int, nargs="+", default=[300, 5],
                    help="pushes per 5m candle (MEXC: one a second while trading = 300)")
    ap.add_argument("--frames", type=int, default=120_000, help="frames per measurement")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    if a.series != "walk" and not (DATA / f"{a.series}-5m.csv").is_file():
        print(f"error: --series {a.series}: {DATA / f'{a.series}-5m.csv'} not found "
              f"(../shared/data beside the checkout; the default 'walk' needs none)",
              file=sys.stderr)
        sys.exit(2)
    if a.rounds < 1 or a.frames < 1 or min(a.pushes) < 1:
        ap.error("--rounds, --frames and --pushes: 1 or more")
    sys.exit(asyncio.run(main(a)))
