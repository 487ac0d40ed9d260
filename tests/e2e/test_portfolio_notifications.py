"""A basket's drift alert and daily summary (the daemon against the simulator serving QRLUSDT
and BTCUSDT, real Redis, a local HTTP receiver): the drift is the portfolio's largest (BTC's
25 pts before P1 trades, not the first pair's 8.33), the summary gives the basket's total value
and PnL and each asset's fills from its own books, both titled with the basket."""

from __future__ import annotations

import re
import time
from decimal import Decimal

from daemon.runtime.portfolio_engine import PortfolioEngine
from daemon.sim import Simulator
from tests.e2e.test_portfolio_e2e import portfolio_settings, run_one_rebalance, vector_sim
from tests.support.e2e_harness import wait_for
from tests.support.notify_receiver import receiver

NAME = "portfolio QRL, BTC against USDT"


async def test_a_baskets_drift_alert_and_daily_summary(redis_url: str) -> None:
    async with receiver() as rec, Simulator(
            vector_sim("0", {"QRL": "10000", "BTC": "0", "USDT": "1000"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.25", "BTC": "0.25"})
        settings = settings.model_copy(update={"notify": settings.notify.model_copy(update={
            "urls": [rec.url(path="hook")], "drift_alert": Decimal("0.1"),
            "drift_alert_after_s": 0, "daily_summary_utc": "00:00"})})
        summaries: list[bool] = []

        async def summary(engine: PortfolioEngine) -> None:
            midnight = (int(time.time()) // 86_400 + 1) * 86_400_000
            summaries.append(await engine.ops.check_summary(engine._day_figures,
                                                            midnight + 5_000))
            await wait_for(lambda: bool(rec.with_title(f"{NAME} daily summary")), 10,
                           "the summary")
            # the next evaluation sees the basket balanced
            await wait_for(lambda: bool(rec.with_title(f"{NAME}: drift back within limit")),
                           10, "the drift back within limit")

        await run_one_rebalance(sim, settings, 2, inspect=summary)
    assert summaries == [True]
    drift = rec.with_title(f"{NAME}: drift alert")
    assert len(drift) == 1, rec.titles()
    assert re.match(r"drift \+25\.00 pts has been beyond ±10\.00 pts", drift[0].message), \
        drift[0].message
    [day] = rec.with_title(f"{NAME} daily summary")
    lines = day.message.splitlines()
    # 2500 QRL sold at the bid 0.04999 (no fee): 1000 + 124.975 USDT, 375 in BTC, 375 in QRL
    assert re.fullmatch(r"since \S+ \S+ UTC: value 1499\.975 USDT; realized PnL 0 USDT, "
                        r"unrealized unknown", lines[0]), lines[0]
    assert lines[1:] == [
        "QRL: 1 order(s), 1 fill(s): bought 0, sold 2500 QRL; fees 0 USDT",
        "BTC: 1 order(s), 1 fill(s): bought 0.00375, sold 0 BTC; fees 0 BTC"]
    assert not [t for t in rec.titles() if t.startswith("QRLUSDT: drift")]
