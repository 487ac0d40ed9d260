"""How much the simulator sustains on one core: signed order round trips per second (POST
/api/v3/order, then DELETE) and websocket kline pushes per second.

The simulator runs in a child process pinned to one CPU (rate limits off); the load comes from
this process (pinned to another CPU when there is one). Usage:

    .venv/bin/python bench/bench_sim.py [--seconds 3] [--concurrency 1 8] [--ws-conns 10 50]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import aiohttp
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.adapters.mexc.auth import encode_params, sign
from daemon.sim import SimConfig, Simulator

INTERVALS = ["Min1", "Min5", "Min15", "Min30", "Min60", "Hour4", "Hour8", "Day1", "Week1",
             "Month1"]


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


def _serve(port_q: mp.Queue[int], stop_ev: object) -> None:
    _pin(0)

    async def main() -> None:
        cfg = SimConfig(seed=1, speed=600.0, weight_per_10s=None, orders_per_s=None,
                        balances={"QRL": "100000000", "USDT": "100000000"},
                        ws_idle_timeout_s=3600, ws_max_msgs_per_s=10**6)
        async with Simulator(cfg) as sim:
            port_q.put(sim.port)
            await asyncio.to_thread(stop_ev.wait)  # type: ignore[attr-defined]
            port_q.put(sim.stats["pushes"])

    asyncio.run(main())


async def bench_orders(base: str, key: str, secret: str, seconds: float,
                       concurrency: int) -> float:
    """Each worker places a resting LIMIT order and cancels it; returns round trips/s
    (a place and a cancel are one round trip each)."""
    done = 0
    deadline = time.monotonic() + seconds

    async def call(session: aiohttp.ClientSession, method: str,
                   params: list[tuple[str, str]]) -> None:
        q = encode_params([*params, ("timestamp", str(int(time.time() * 1000)))])
        url = URL(f"{base}/api/v3/order?{q}&signature={sign(secret, q)}", encoded=True)
        async with session.request(method, url, headers={"X-MEXC-APIKEY": key}) as r:
            body = await r.json()
            assert r.status == 200, body

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < deadline:
            i += 1
            cid = f"b{concurrency}-{n}-{i}"
            await call(session, "POST", [("symbol", "QRLUSDT"), ("side", "BUY"),
                                         ("type", "LIMIT"), ("quantity", "100"),
                                         ("price", "0.01"), ("newClientOrderId", cid)])
            await call(session, "DELETE", [("symbol", "QRLUSDT"), ("origClientOrderId", cid)])
            done += 2

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, n) for n in range(concurrency)))
    return done / seconds


async def bench_ws(ws_url: str, conns: int, seconds: float) -> float:
    received = 0
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(ws_url) for _ in range(conns)]
        for ws in sockets:
            await ws.send_json({"method": "SUBSCRIPTION", "params": [
                f"spot@public.kline.v3.api.pb@QRLUSDT@{i}" for i in INTERVALS]})
        await asyncio.sleep(0.5)

        async def reader(ws: aiohttp.ClientWebSocketResponse, deadline: float) -> None:
            nonlocal received
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await ws.receive(timeout=left)
                except TimeoutError:
                    return
                if msg.type == aiohttp.WSMsgType.BINARY:
                    received += 1

        start = received
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(reader(ws, deadline) for ws in sockets))
        for ws in sockets:
            await ws.close()
    return (received - start) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--ws-conns", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    port_q: mp.Queue[int] = ctx.Queue()
    stop_ev = ctx.Event()
    child = ctx.Process(target=_serve, args=(port_q, stop_ev), daemon=True)
    child.start()
    port = port_q.get(timeout=30)
    _pin(1)
    base, cfg = f"http://127.0.0.1:{port}", SimConfig()
    print(f"simulator pid {child.pid} on CPU 0, load from CPU 1 ({os.cpu_count()} CPUs)")
    for c in args.concurrency:
        rate = asyncio.run(bench_orders(base, cfg.api_key, cfg.api_secret, args.seconds, c))
        print(f"order round trips/s, place+cancel (concurrency {c:3d}): {rate:8.0f}")
    for n in args.ws_conns:
        rate = asyncio.run(bench_ws(f"ws://127.0.0.1:{port}/ws", n, args.seconds))
        print(f"websocket pushes/s received ({n:3d} conns x {len(INTERVALS)} kline channels, "
              f"50 Hz ticks + a final push per closed window): {rate:8.0f}")
    stop_ev.set()
    total = port_q.get(timeout=30)
    child.join(10)
    print(f"pushes sent by the simulator in total: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
