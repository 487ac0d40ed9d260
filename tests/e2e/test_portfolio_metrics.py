"""The single pair's gauges for a basket (the daemon in dry_run against the simulator serving
QRLUSDT and BTCUSDT, real Redis): ``rebalancer_portfolio_value`` is the basket's total, not the
first pair's base plus quote; ``rebalancer_drift`` the drift of the asset farthest from its
target (BTC's), the PnL gauges the totals; a price, a base weight, a target or a cost basis of
one pair is not shown as the basket's (the ``rebalancer_asset_*`` series give each asset's)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from daemon.config import Mode
from daemon.runtime.portfolio_engine import PortfolioEngine
from daemon.sim import Simulator
from tests.e2e.test_portfolio_e2e import portfolio_settings, vector_sim
from tests.support.e2e_harness import running_engine, sim_creds, wait_for


def scrape(engine: PortfolioEngine) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(
                generate_latest(engine.metrics.registry).decode()) for s in f.samples}


async def test_the_single_pair_gauges_show_the_baskets_totals(redis_url: str) -> None:
    # QRL 10000 x 0.05 = 500, BTC 0.001 x 100000 = 100, USDT 1000: 1600 in all;
    # weights QRL 31.25 % (+6.25 pts), BTC 6.25 % (-18.75 pts) against 25 % each
    async with Simulator(vector_sim("0", {"QRL": "10000", "BTC": "0.001",
                                          "USDT": "1000"})) as sim:
        settings = portfolio_settings(sim, redis_url, {"QRL": "0.25", "BTC": "0.25"})
        settings = settings.model_copy(update={"mode": Mode.DRY_RUN})
        async with running_engine(settings, sim_creds(sim)) as engine:
            assert isinstance(engine, PortfolioEngine)
            await wait_for(lambda: engine.evaluations >= 1, 30, "a first evaluation")
            m = scrape(engine)
    assert sim.order_requests == []
    assert m[("rebalancer_portfolio_value", ())] == pytest.approx(1600)
    assert m[("rebalancer_portfolio_value", ())] == m[("rebalancer_portfolio_total_value", ())]
    assert m[("rebalancer_drift", ())] == pytest.approx(float(Decimal("-0.1875")))
    assert abs(m[("rebalancer_drift", ())]) == m[("rebalancer_portfolio_total_drift", ())]
    assert m[("rebalancer_realized_pnl", ())] == m[("rebalancer_portfolio_total_realized_pnl",
                                                    ())] == 0
    assert 0 <= m[("rebalancer_price_age_seconds", ())] < 60
    for name in ("rebalancer_price", "rebalancer_base_weight", "rebalancer_target_weight",
                 "rebalancer_cost_basis"):
        assert (name, ()) not in m, name
    assert m[("rebalancer_asset_price", (("asset", "BTC"),))] == 100000
    assert m[("rebalancer_asset_drift", (("asset", "QRL"),))] == pytest.approx(0.0625)
