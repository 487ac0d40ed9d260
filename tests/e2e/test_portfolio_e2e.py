"""Portfolios of several assets end to end (STRATEGY.md v3, vectors P1 and P2): the daemon
against the simulator serving QRLUSDT and BTCUSDT over real HTTP/websockets, real Redis. The
SELL leg reaches the exchange first and is final before the BUY leg is sent; the BUY is sized
from the quote free after the sell (P2: 499.5 USDT after the 0.5 fee, 0.004990 BTC), never from
the expected proceeds. Each pair's books live under its own prefix, the process's lease under
the portfolio's."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from daemon.errors import ConfigError, RebalancerError
from daemon.runtime.market_hub import HubPair
from daemon.runtime.portfolio_engine import PortfolioEngine
from daemon.runtime.portfolio_market import HubMarket
from daemon.sim import SimConfig, Simulator
from daemon.sim.config import BadReply, ExtraSymbol
from daemon.sim.market import RandomWalkMarket
from tests.support.e2e_harness import (
    e2e_settings,
    running_engine,
    sim_creds,
    stored_fills,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
Inspect = Callable[["PortfolioEngine"], Awaitable[None]]


def flat(price: str) -> RandomWalkMarket:
    """A market that stays at ``price`` (no volatility, no trend)."""
    return RandomWalkMarket(start_price=price, volatility_per_min=0.0, trend_per_min=0.0)


def vector_sim(fee: str, balances: dict[str, str], qrl: str = "0.05") -> SimConfig:
    """QRL last ``qrl`` (the best bid one tick, 0.00001, below it), BTC last 100000 (its best
    ask 100000.00), a deep book (one level fills every order), fees ``fee``."""
    symbols = (
        ExtraSymbol("QRLUSDT", "QRL", "USDT", base_precision=2, quote_precision=5,
                    min_qty="0.01", min_notional="1", maker_fee="0", taker_fee=fee,
                    market=flat(qrl)),
        ExtraSymbol("BTCUSDT", "BTC", "USDT", base_precision=6, quote_precision=2,
                    min_qty="0.000001", min_notional="1", maker_fee="0", taker_fee=fee,
                    market=flat("100000")),
    )
    return SimConfig.for_symbols(symbols, seed=5, speed=60.0, balances=balances,
                                 book_step_frac="0", book_level_quote="1000000")


def portfolio_settings(sim: Simulator, redis_url: str, targets: dict[str, str]) -> Any:
    return e2e_settings(sim, redis_url, portfolio={"quote": "USDT", "targets": targets},
                        strategy={"name": "symmetric", "threshold": 0.01},
                        risk={"min_notional": 5},
                        # the vectors price at the book top: no slippage margin on the limit
                        # price (with 0.5 % the BUY of P2 would be capped at 0.004965)
                        execution={"slippage_pct": 0},
                        # evaluating every second: a lease lost to a loaded machine is taken
                        # back and the next evaluation carries on (decided afresh)
                        schedule={"interval_s": 1}, redis={"lease_ttl_s": 10})


def accepted(sim: Simulator) -> list[dict[str, str]]:
    """The orders the exchange accepted, in the order they reached it."""
    return [a.params for a in sim.order_requests if a.outcome.startswith("accepted")]


async def run_one_rebalance(sim: Simulator, settings: Any, orders: int,
                            inspect: Inspect | None = None) -> None:
    async with running_engine(settings, sim_creds(sim)) as engine:
        assert isinstance(engine, PortfolioEngine)
        engine.scheduler.trigger("test")
        await wait_for(lambda: len(accepted(sim)) >= orders, 30, f"{orders} orders")
        await wait_for(lambda: all(u.executor.in_flight is None for u in engine.units)
                       and not engine.scheduler.running_s(), 30, "the evaluation to end")
        if inspect is not None:
            await inspect(engine)


async def test_p1_sell_then_buy(redis_url: str) -> None:
    """P1: targets QRL 0.25, BTC 0.25; 10000 QRL, 0 BTC, 1000 USDT: SELL 2500 QRL first,
    then BUY 0.003750 BTC (V 1500; the SELL fills at the best bid 0.04999, the BUY needs 375
    of the 1124.975 USDT then free)."""
    async with Simulator(vector_sim("0", {"QRL": "10000", "BTC": "0",
                                          "USDT": "1000"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.25", "BTC": "0.25"})
        settings = settings.model_copy(update={"health": settings.health.model_copy(
            update={"listen": "127.0.0.1:0"})})
        await run_one_rebalance(sim, settings, 2, inspect=_reports_each_asset)
        sent = accepted(sim)
        assert [(o["symbol"], o["side"]) for o in sent] == [("QRLUSDT", "SELL"),
                                                            ("BTCUSDT", "BUY")]
        trades = {s: sim.my_trades(s) for s in ("QRLUSDT", "BTCUSDT")}
        sold = sum(Decimal(t["qty"]) for t in trades["QRLUSDT"])
        bought = sum(Decimal(t["qty"]) for t in trades["BTCUSDT"])
        assert (sold, bought) == (Decimal("2500"), Decimal("0.003750")), (sold, bought)
        # the sell was final (filled) before the buy reached the exchange
        assert max(t["time"] for t in trades["QRLUSDT"]) <= min(
            t["time"] for t in trades["BTCUSDT"])
        await _books_per_pair(sim, redis_url, settings.key_prefix)


async def test_p2_buy_sized_from_the_quote_free_after_the_sell(redis_url: str) -> None:
    """P2: targets 0.5/0.5, taker fee 0.001; 20000 QRL, 0 BTC, 0 USDT: SELL 10000 QRL at
    0.05 (fee 0.5 USDT), 499.5 USDT free, then BUY 0.004990 BTC. QRL's last price is 0.05001
    so that its best bid, where the SELL fills, is 0.05 exactly (the leg sells half of the
    QRL whatever the price); the BUY wants 0.005001 BTC (half of V 1000.2) but gets what the
    499.5 USDT free pay for, fee included."""
    async with Simulator(vector_sim("0.001", {"QRL": "20000", "BTC": "0", "USDT": "0"},
                                    qrl="0.05001")) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.5", "BTC": "0.5"})
        await run_one_rebalance(sim, settings, 2)
        sent = accepted(sim)
        assert [(o["symbol"], o["side"]) for o in sent] == [("QRLUSDT", "SELL"),
                                                            ("BTCUSDT", "BUY")]
        sell = sim.my_trades("QRLUSDT")
        assert sum(Decimal(t["qty"]) for t in sell) == Decimal("10000")
        assert sum(Decimal(t["commission"]) for t in sell) == Decimal("0.5")
        buy = sim.my_trades("BTCUSDT")
        assert sum(Decimal(t["qty"]) for t in buy) == Decimal("0.004990")
        await _books_per_pair(sim, redis_url, settings.key_prefix)


async def _reports_each_asset(engine: PortfolioEngine) -> None:
    """After P1 (QRL 7500 at 0.05, BTC 0.00375 at 100000, USDT 749.975): the heartbeat,
    /healthz and /metrics give each asset and the total."""
    await wait_for(lambda: engine.units[0].ledger.balances.get("QRL") is not None
                   and engine.units[0].ledger.balances["QRL"].total == 7500, 10,
                   "the balances after the trades")
    beat = engine.checkpoint()["portfolio"]
    assert beat["quote"] == "USDT" and Decimal(beat["quote_total"]) == Decimal("749.975")
    assert Decimal(beat["total_value"]) == Decimal("1499.975")  # 375 + 375 + 749.975
    qrl, btc = beat["assets"]["QRL"], beat["assets"]["BTC"]
    assert (qrl["symbol"], Decimal(qrl["value"]), qrl["target_weight"]) == (
        "QRLUSDT", Decimal("375.00000"), "0.25")
    assert (btc["symbol"], Decimal(btc["value"]), Decimal(btc["qty"])) == (
        "BTCUSDT", Decimal("375.000000"), Decimal("0.00375"))
    assert Decimal(qrl["books"]["realized_pnl"]) == 0 and btc["books"]["avg_cost"] == "100000"
    assert Decimal(beat["drift"]) == abs(Decimal(qrl["drift"]))
    assert engine.status_line().startswith("portfolio live trading value=1499.98 USDT "
                                           "(QRL 25.0%/25%, BTC 25.0%/25%) last=QRL:"), \
        engine.status_line()
    assert engine.http is not None
    health = await engine.http.health()
    assert health["status"] == "ok", health
    assert health["symbol"] == "QRLUSDT,BTCUSDT"
    assert health["portfolio"]["total_value"] == beat["total_value"]
    assert set(health["portfolio"]["assets"]) == {"QRL", "BTC"}
    assert health["portfolio"]["assets"]["BTC"]["market_connected"] is True
    # a reload: reloadable keys reach every pair (each keeps its weight as ratio); new
    # averages are refused (every pair's candle window would change: a restart applies them)
    current = engine.settings.current
    looser = current.model_copy(update={"strategy": current.strategy.model_copy(
        update={"threshold": Decimal("0.05")})})
    await engine.apply_settings(looser)
    assert [(u.settings.current.strategy.threshold, u.settings.current.strategy.ratio)
            for u in engine.units] == [(Decimal("0.05"), Decimal("0.25"))] * 2
    assert engine.unit("BTC").settings.current.symbol == "BTCUSDT"
    other_ma = looser.model_copy(update={"strategy": looser.strategy.model_copy(
        update={"ma_short": 5})})
    with pytest.raises(RebalancerError, match="restart the daemon"):
        await engine.apply_settings(other_ma)
    assert engine.settings.current.strategy.ma_short == current.strategy.ma_short
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(
                   generate_latest(engine.metrics.registry).decode()) for s in f.samples}
    assert metrics[("rebalancer_asset_value", (("asset", "BTC"),))] == 375.0
    assert metrics[("rebalancer_asset_target_weight", (("asset", "QRL"),))] == 0.25
    assert metrics[("rebalancer_portfolio_total_value", ())] == pytest.approx(1499.975)


async def _books_per_pair(sim: Simulator, redis_url: str, process_prefix: str) -> None:
    """Every exchange fill booked once, in its pair's books; the lease under the portfolio's
    prefix, none under a pair's."""
    for symbol in ("QRLUSDT", "BTCUSDT"):
        fills = (await stored_fills(redis_url, f"bot:{symbol}:"))[0]
        assert sorted(f.trade_id for f in fills) == sorted(
            str(t["id"]) for t in sim.my_trades(symbol))
    assert process_prefix == "bot:USDT-BTC-QRL:"
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        assert await client.exists(f"{process_prefix}last_plan")
        assert not await client.exists("bot:QRLUSDT:last_plan")
        assert not await client.exists("bot:BTCUSDT:lease")
    finally:
        await client.aclose()


async def test_a_pair_the_exchange_does_not_list_stops_the_start(redis_url: str) -> None:
    """At start every pair is checked (``pair_problems``): the error names the key."""
    async with Simulator(vector_sim("0", {"QRL": "1", "USDT": "1"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.2", "DOGE": "0.2"})
        with pytest.raises(ConfigError) as caught:
            async with running_engine(settings, sim_creds(sim)):
                raise AssertionError("started")
        assert caught.value.problems == [
            "portfolio.targets.DOGE: the pair DOGEUSDT does not exist on the exchange"]
        assert sim.order_requests == []


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "daemon", *args], capture_output=True,
        text=True, cwd=REPO, timeout=90, check=False)


async def test_status_halt_and_core_set_of_a_running_portfolio(redis_url: str,
                                                               tmp_path: Path) -> None:
    """``rebalancer status`` shows each asset and the total; ``halt``/``resume`` reach the
    portfolio's process keys; ``core set`` names the asset when there are several."""
    async with Simulator(vector_sim("0", {"QRL": "10000", "BTC": "0",
                                          "USDT": "1000"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.25", "BTC": "0.25"})
        cfg = tmp_path / "config.yaml"
        cfg.write_text(yaml.safe_dump({"redis": {"url": redis_url}, "portfolio": {
            "quote": "USDT", "targets": {"QRL": "0.25", "BTC": "0.25"}}}, sort_keys=False))

        async def operate(engine: PortfolioEngine) -> None:
            await wait_for(lambda: engine.units[0].ledger.balances["QRL"].total == 7500, 10,
                           "the balances after the trades")
            await engine.heartbeat.tick()  # a fresh heartbeat with the trades
            done = await cli("status", "-c", str(cfg))
            assert done.returncode == 0, done.stdout + done.stderr
            lines = done.stdout.splitlines()
            assert lines[0] == "portfolio QRL, BTC against USDT (bot:USDT-BTC-QRL:)"
            assert lines[1] == "state       trading (exit 0)"
            assert lines[5:] == [
                "QRL         QRLUSDT price 0.05 trend NEUTRAL: 7500 worth 375 USDT, weight "
                "25.00% (target 25.00%, drift +0.00 pts)",
                # QRL held before any trade the daemon knows: no cost basis, no unrealized PnL
                "            cost n/a realized 0 unrealized n/a; core floor None (credit 0); "
                "trades today 1, total 1; open orders 0",
                "BTC         BTCUSDT price 100000 trend NEUTRAL: 0.00375 worth 375 USDT, "
                "weight 25.00% (target 25.00%, drift +0.00 pts)",
                "            cost 100000 realized 0 unrealized 0; core floor None (credit 0); "
                "trades today 1, total 1; open orders 0",
                "total       value 1499.97 USDT (USDT 749.97), largest drift +0.00 pts, "
                "realized 0 unrealized n/a",
                lines[-1]]
            assert lines[-1].startswith("last plan   ")
            js = json.loads((await cli("status", "-c", str(cfg), "--json")).stdout)
            assert Decimal(js["total"]["total_value"]) == Decimal("1499.975")
            assert js["assets"]["BTC"]["cost_basis"]["avg_cost"] == "100000"
            assert js["assets"]["QRL"]["counters"]["trades_total"] == 1
            hist = await cli("history", "-c", str(cfg), "--asset", "BTC")
            assert hist.returncode == 0, hist.stderr
            assert "sells_final QRL SELL 2500 [rebalance_sell]; BTC BUY 0.00375 [rebalance_buy]" \
                in hist.stdout, hist.stdout
            assert re.search(r" BUY 0\.003750 @ \S+ FILLED \(1 fill\(s\)\)", hist.stdout)
            assert " SELL 2500" not in hist.stdout.split("orders (")[1]  # QRL's: its books
            pnl = json.loads((await cli("pnl", "-c", str(cfg), "--asset", "BTC",
                                        "--json")).stdout)
            assert (pnl["base_asset"], pnl["quote_asset"]) == ("BTC", "USDT")
            assert pnl["totals"]["fills"] == 1
            wrong = await cli("pnl", "-c", str(cfg), "--asset", "DOGE")
            assert wrong.returncode == 2
            assert "--asset: DOGE is not in portfolio.targets (QRL, BTC)" in wrong.stderr
            halt = await cli("halt", "-c", str(cfg), "--reason", "look")
            assert halt.returncode == 0, halt.stderr
            assert halt.stdout.startswith("halted the portfolio (QRL, BTC against USDT): look")
            held = await cli("status", "-c", str(cfg))
            assert held.returncode == 1 and "halted      look" in held.stdout
            assert (await cli("resume", "-c", str(cfg))).returncode == 0
            now = await cli("rebalance-now", "-c", str(cfg), "--reason", "check")
            assert now.returncode == 0, now.stdout + now.stderr
            answer = now.stdout.splitlines()
            assert len(answer) == 3 and answer[2].endswith("trigger manual"), answer
            assert all(line.startswith("HOLD 0 [within_threshold] ") for line in answer[:2])
            which = await cli("core", "set", "100", "-c", str(cfg))
            assert which.returncode == 2
            assert "--asset: which asset's floor? portfolio.targets lists QRL, BTC" in \
                which.stderr
            core = await cli("core", "set", "0.001", "--asset", "btc", "-c", str(cfg))
            assert core.returncode == 0, core.stderr
            assert core.stdout.startswith("core floor of BTCUSDT set to 0.001")
            await wait_for(lambda: engine.unit("BTC").ledger.core_floor == Decimal("0.001"),
                           10, "the daemon to read the new floor")
            assert engine.unit("QRL").ledger.core_floor != Decimal("0.001")

        await run_one_rebalance(sim, settings, 2, inspect=operate)


async def test_a_one_asset_portfolio_is_the_single_pair(redis_url: str) -> None:
    """``portfolio: {targets: {QRL: 0.5}}`` decides, orders and keeps its books exactly as
    ``symbol: QRLUSDT`` with ``strategy.ratio: 0.5``: the same order, the same keys."""
    seen: list[tuple[list[tuple[str, ...]], set[str]]] = []
    for form in ({"portfolio": {"quote": "USDT", "targets": {"QRL": "0.5"}}},
                 {"strategy": {"name": "symmetric", "threshold": 0.01, "ratio": "0.5"}}):
        client = aioredis.from_url(redis_url, decode_responses=True)
        await client.flushall()
        async with Simulator(vector_sim("0.001", {"QRL": "20000", "USDT": "0"})) as sim:
            base = dict(strategy={"name": "symmetric", "threshold": 0.01},
                        risk={"min_notional": 5}, execution={"slippage_pct": 0},
                        schedule={"interval_s": 1}, redis={"lease_ttl_s": 10})
            settings = e2e_settings(sim, redis_url, **{**base, **form})
            async with running_engine(settings, sim_creds(sim)) as engine:
                engine.scheduler.trigger("test")
                await wait_for(lambda: len(accepted(sim)) >= 1, 30, "the order")
                await wait_for(lambda: engine.executor.in_flight is None, 30, "its end")
            orders = [tuple(o[k] for k in ("symbol", "side", "type", "quantity"))
                      for o in accepted(sim)]
            keys = {k for k in await client.keys("*") if "archive" not in k}
        await client.aclose()
        seen.append((orders, keys))
    assert seen[0] == seen[1], seen
    assert seen[0][0] == [("QRLUSDT", "SELL", "LIMIT", "10000")]
    assert "bot:QRLUSDT:lease" in seen[0][1] or "bot:QRLUSDT:heartbeat" in seen[0][1]


def market_connections(sim: Simulator) -> list[frozenset[str]]:
    """The channels of each market-data connection the simulator holds (not the user
    stream's)."""
    return [frozenset(c.subs) for c in sim.hub.conns if not c.listen_key]


async def test_the_basket_follows_every_pair_over_one_connection_repaired_for_all(
        redis_url: str) -> None:
    """Several assets: ONE market connection carries every pair's kline and book-ticker
    channels (the engine's MarketHub); dropped, it comes back with all of them and every pair
    repairs its candles from REST and gets pushes again; the daemon stays healthy."""
    async with Simulator(vector_sim("0", {"QRL": "5000", "BTC": "0.0025",
                                          "USDT": "500"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.25", "BTC": "0.25"})
        async with running_engine(settings, sim_creds(sim)) as engine:
            assert isinstance(engine, PortfolioEngine)
            pairs = [u.market for u in engine.units if isinstance(u.market, HubPair)]
            assert len(pairs) == 2, [type(u.market).__name__ for u in engine.units]
            channels = {ch for p in pairs for ch in p.channels}
            assert len(channels) == 4
            await wait_for(lambda: market_connections(sim) == [frozenset(channels)], 10,
                           "one market connection with both pairs' channels")
            (stream,) = {p.stream for p in pairs}  # the pairs share it
            assert engine.health() is None
            await wait_for(lambda: all(p.last_price is not None and p.book[0] is not None
                                       for p in pairs), 10, "each pair's price and book")
            repairs = [p.stats.repairs for p in pairs]
            stream.drop("test: dropped")
            await wait_for(lambda: stream.stats.reconnects == 1 and stream.connected.is_set(),
                           10, "the connection to come back")
            await wait_for(lambda: all(p.stats.repairs > n for p, n in zip(pairs, repairs,
                                                                          strict=True)),
                           10, "every pair to repair its candles")
            assert market_connections(sim) == [frozenset(channels)]
            pushed = [p.pushes for p in pairs]
            await wait_for(lambda: all(p.pushes > n for p, n in zip(pairs, pushed,
                                                                    strict=True)), 10,
                           "pushes for every pair again")
            await wait_for(lambda: engine.health() is None, 10, "the daemon healthy again")
            assert all(p.stats.bad_frames == 0 for p in pairs)


async def test_the_basket_hub_starts_through_the_startup_retry_and_stops_once(
        redis_url: str) -> None:
    """A kline backfill that fails (a cut reply) is tried again by the engine's startup
    retry, which starts the hub afresh: then ONE connection, connected once; the engine's
    close stops it (the simulator holds no market connection afterwards)."""
    async with Simulator(vector_sim("0", {"QRL": "5000", "BTC": "0.0025",
                                          "USDT": "500"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.25", "BTC": "0.25"})
        sim.faults.bad_replies = (BadReply("GET /api/v3/klines", "truncated", first=2),)
        async with running_engine(settings, sim_creds(sim)) as engine:
            assert isinstance(engine, PortfolioEngine) and isinstance(engine.market, HubMarket)
            hub = engine.market.hub
            assert engine.startup.retries >= 1
            await wait_for(lambda: len(market_connections(sim)) == 1
                           and len(market_connections(sim)[0]) == 4, 10,
                           "one market connection with both pairs' channels")
            assert [s.stats.connects for s in hub.streams] == [1]
            assert all(p.window.ready for p in hub.pairs.values())
        assert not hub.running
        await wait_for(lambda: market_connections(sim) == [], 10, "the hub's connection closed")
