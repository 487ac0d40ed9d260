"""A portfolio config as pairs: the prefixes of the lead's design (issue 18). A one-asset
portfolio keeps the single pair's keys exactly; several assets keep each pair's books under
``bot:<PAIR>:`` and the process's keys (lease, heartbeat, halt, plans, requests) under the
portfolio's prefix, which every pair store's fenced writes check."""

from __future__ import annotations

from decimal import Decimal

from daemon.adapters.redis_store import RedisStore
from daemon.config import parse_settings
from daemon.runtime.portfolio_pairs import pair_specs, process_prefix, process_settings


def test_the_single_pair_and_a_one_asset_portfolio_keep_todays_keys() -> None:
    assert parse_settings({}).key_prefix == "bot:QRLUSDT:"
    assert parse_settings({"symbol": "BTCUSDT"}).key_prefix == "bot:BTCUSDT:"
    one = parse_settings({"portfolio": {"targets": {"QRL": 0.5}}})
    assert one.key_prefix == "bot:QRLUSDT:"
    assert process_prefix(one) is None
    (spec,) = pair_specs(one)
    assert (spec.asset, spec.weight, spec.symbol) == ("QRL", Decimal("0.5"), "QRLUSDT")
    assert spec.settings.key_prefix == "bot:QRLUSDT:"
    assert spec.settings.strategy.ratio == Decimal("0.5")
    named = parse_settings({"portfolio": {"targets": {"QRL": 0.5}},
                            "redis": {"key_prefix": "mine:"}})
    assert pair_specs(named)[0].settings.key_prefix == "mine:"


def test_several_assets_books_per_pair_process_keys_under_the_portfolio() -> None:
    s = parse_settings({"portfolio": {"quote": "USDT",
                                      "targets": {"QRL": 0.25, "ETH": 0.1, "BTC": 0.25}}})
    assert s.key_prefix == "bot:USDT-BTC-ETH-QRL:"  # assets sorted
    assert process_prefix(s) == "bot:USDT-BTC-ETH-QRL:"
    specs = pair_specs(s)
    assert [(p.asset, p.symbol, p.settings.key_prefix, p.settings.strategy.ratio)
            for p in specs] == [
        ("QRL", "QRLUSDT", "bot:QRLUSDT:", Decimal("0.25")),
        ("ETH", "ETHUSDT", "bot:ETHUSDT:", Decimal("0.1")),
        ("BTC", "BTCUSDT", "bot:BTCUSDT:", Decimal("0.25"))]
    assert all(p.settings.portfolio is None for p in specs)
    assert process_settings(s).symbol == "QRLUSDT"
    assert process_settings(s).key_prefix == "bot:USDT-BTC-ETH-QRL:"
    named = parse_settings({"portfolio": {"targets": {"QRL": 0.2, "BTC": 0.2}},
                            "redis": {"key_prefix": "basket:"}})
    assert named.key_prefix == "basket:"
    assert [p.settings.key_prefix for p in pair_specs(named)] == ["bot:QRLUSDT:",
                                                                  "bot:BTCUSDT:"]


def test_a_pair_store_puts_the_process_keys_under_the_portfolio_prefix() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", "bot:BTCUSDT:",
                       process_prefix="bot:USDT-BTC-QRL:")
    for name in ("lease", "heartbeat", "halted", "last_plan", "plan_history", "reload",
                 "manual_requests", "manual_replies"):
        assert store.key(name) == f"bot:USDT-BTC-QRL:{name}"
    for name in ("schema", "epoch", "books", "cost_basis", "core_floor", "counters",
                 "balances", "orders", "orders:open", "orders:closed"):
        assert store.key(name) == f"bot:BTCUSDT:{name}"
    assert RedisStore("redis://127.0.0.1:1/0", "bot:QRLUSDT:").key("lease") == \
        "bot:QRLUSDT:lease"
