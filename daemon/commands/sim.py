"""``rebalancer sim``: run the MEXC Spot v3 simulator as a process until SIGINT/SIGTERM.

Demo credentials (documented, not secret): API key ``mx0vglDEMOKEY0000000``, secret
``demo-secret-not-real-0000000000000``; override with --api-key/--api-secret or the environment
variables MEXC_SIM_API_KEY / MEXC_SIM_API_SECRET."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError

DEFAULT_BALANCES = {"QRL": "10000", "USDT": "500"}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sim", help="run the local MEXC Spot v3 simulator (REST + protobuf websocket)",
        description="Serve MEXC's REST API under /api/v3 and the websocket at /ws, with a "
        "matching engine over a replayed candle file or a seeded random walk. Market time runs "
        "at --speed simulated seconds per real second; signing and /api/v3/time use the real "
        "clock. Stops on SIGINT/SIGTERM.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8800, help="0 picks a free port")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second (default 60)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--replay", type=Path, metavar="FILE",
                   help="candle CSV to replay (../shared/data layout); default: random walk")
    p.add_argument("--rescale", metavar="X", help="multiply replayed prices by X")
    p.add_argument("--start-index", type=int, default=288, metavar="N",
                   help="replay: candles before N are history (default 288 = one day of 5m)")
    p.add_argument("--start-price", default="0.05", help="random walk: starting price")
    p.add_argument("--balance", action="append", default=[], metavar="ASSET=QTY",
                   help="starting balance, repeatable (default QRL=10000 USDT=500)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--api-secret", default=None)
    p.add_argument("--partial-fill", metavar="RATIO",
                   help="each matching step fills at most RATIO of the remaining quantity")
    for flag, what in (("--fault-5xx", "503 before processing"),
                       ("--fault-lost-reply", "order/cancel processed, reply dropped"),
                       ("--fault-garbled-reply", "order/cancel processed, reply not JSON"),
                       ("--fault-429", "429 with Retry-After"),
                       ("--fault-push-dup", "duplicated websocket pushes")):
        p.add_argument(flag, type=float, default=0.0, metavar="RATE", help=f"rate of {what}")
    p.add_argument("--fault-push-delay-ms", type=int, default=0, metavar="N")
    p.add_argument("--fault-unknown-order-queries", type=int, default=0, metavar="N",
                   help="GET /order answers -2013 to the first N queries of each order")
    p.add_argument("--fault-lost-reply-hang-s", type=float, default=0.0, metavar="S",
                   help="hold a lost reply's connection S seconds before dropping it")
    p.add_argument("--fault-ws-drop", type=float, default=0.0, metavar="RATE",
                   help="chance per second that all websockets are dropped")
    p.add_argument("--fault-ws-stall", type=float, default=0.0, metavar="RATE",
                   help="chance per second that all websockets go silent")
    p.add_argument("--fault-ws-stall-s", type=float, default=2.0, metavar="S",
                   help="how long a websocket stall lasts (default 2)")
    p.set_defaults(handler=handle)


def parse_balances(items: list[str]) -> dict[str, str]:
    if not items:
        return dict(DEFAULT_BALANCES)
    out: dict[str, str] = {}
    for item in items:
        asset, sep, qty = item.partition("=")
        if not sep or not asset or not asset.isalnum() or not asset.isupper():
            raise ConfigError(f"--balance {item!r}: expected ASSET=QTY, e.g. USDT=500")
        try:
            value = Decimal(qty)
        except InvalidOperation:
            raise ConfigError(f"--balance {item!r}: {qty!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise ConfigError(f"--balance {item!r}: quantity must be >= 0")
        out[asset] = qty
    return out


def build_config(args: argparse.Namespace) -> Any:
    from daemon.sim import (
        DEMO_API_KEY,
        DEMO_API_SECRET,
        Faults,
        RandomWalkMarket,
        ReplayMarket,
        SimConfig,
    )

    market: RandomWalkMarket | ReplayMarket
    if args.replay is not None:
        if not args.replay.is_file():
            raise ConfigError(f"--replay {args.replay}: no such file")
        market = ReplayMarket(path=args.replay, rescale=args.rescale,
                              start_index=args.start_index)
    else:
        if args.rescale is not None:
            raise ConfigError("--rescale only applies with --replay")
        market = RandomWalkMarket(start_price=args.start_price)
    cfg = SimConfig(
        seed=args.seed, speed=args.speed, market=market,
        balances=parse_balances(args.balance),
        api_key=args.api_key or os.environ.get("MEXC_SIM_API_KEY") or DEMO_API_KEY,
        api_secret=args.api_secret or os.environ.get("MEXC_SIM_API_SECRET") or DEMO_API_SECRET,
        partial_fill_ratio=args.partial_fill,
        faults=Faults(http_5xx_rate=args.fault_5xx, lost_reply_rate=args.fault_lost_reply,
                      garbled_reply_rate=args.fault_garbled_reply,
                      unknown_order_queries=args.fault_unknown_order_queries,
                      rate_limit_rate=args.fault_429, push_duplicate_rate=args.fault_push_dup,
                      push_delay_ms=args.fault_push_delay_ms,
                      lost_reply_hang_s=args.fault_lost_reply_hang_s,
                      ws_drop_rate_per_s=args.fault_ws_drop,
                      ws_stall_rate_per_s=args.fault_ws_stall, ws_stall_s=args.fault_ws_stall_s),
    )
    try:
        cfg.validate()
    except ValueError as exc:
        raise ConfigError(f"sim: {exc}") from None
    return cfg


def handle(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: must be within 0..65535")
    cfg = build_config(args)
    return asyncio.run(_serve(cfg, args.host, args.port))


async def _serve(cfg: Any, host: str, port: int) -> int:
    from daemon.sim import Simulator

    try:
        sim = Simulator(cfg, host=host, port=port)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"sim: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sim.start()
    except OSError as exc:
        raise ConfigError(f"sim: cannot listen on {host}:{port}: {exc}") from None
    print(f"REST {sim.rest_url}/api/v3", flush=True)
    print(f"WS   {sim.ws_url}", flush=True)
    print(f"api key {sim.api_key}  speed {cfg.speed}x  seed {cfg.seed}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    print("simulator stopped", flush=True)
    return 0
