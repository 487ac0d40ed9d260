"""``rebalancer backtest``: replay a candle file through the daemon's own decision and booking
code (``daemon.backtest``) and print one row per strategy: the config's, the ``--compare``
ones and buy-and-hold. Exit 0 with a result, 2 on a bad flag, config or candle file."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from daemon.backtest.candles_csv import CandleSeries, parse_when, read_candles
from daemon.backtest.fills import FILL_MODELS
from daemon.backtest.portfolio_input import PortfolioFlags, build_portfolio_replay
from daemon.backtest.portfolio_result import PortfolioResult
from daemon.backtest.portfolio_result import table as portfolio_table
from daemon.backtest.portfolio_result import to_json as portfolio_json
from daemon.backtest.portfolio_runner import run_portfolio
from daemon.backtest.result import BacktestResult
from daemon.backtest.runner import Replay, run_backtest
from daemon.backtest.spec import (
    StrategySpec,
    from_settings,
    parse_balances,
    parse_compare,
    positive,
    replay_prices,
    sim_rules,
    split_value,
)
from daemon.backtest.summary import table, to_json
from daemon.commands.common import add_config_arg
from daemon.config import Settings, load_config
from daemon.config_portfolio import PortfolioSettings
from daemon.errors import InputError
from daemon.sim.config import SimConfig

DEFAULT_START_VALUE = Decimal(10000)
DAEMON_BACKFILL = 200  # candles the daemon's market feed backfills at start (MarketFeed)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "backtest",
        help="replay a candle file through the strategy and compare it with baselines",
        description="Replay candles (CSV: open_time_ms,open,high,low,close,volume,"
        "close_time_ms,quote_volume) through the daemon's own window, planner, risk limits "
        "and books, and print per strategy the drift from the target, trades, fees, "
        "turnover, final value, return vs buy-and-hold, max drawdown and reason codes. "
        "Exchange rules and fees are the simulator's. With a portfolio config: one file "
        "per pair (--candles PAIR=FILE), replayed at the times every file has; figures per "
        "asset and in total.",
    )
    add_config_arg(p)
    p.add_argument("--candles", required=True, action="append", metavar="FILE",
                   help="candle CSV file; with a portfolio config one PAIR=FILE per pair "
                   "(repeated), e.g. --candles BTCUSDT=btc.csv")
    p.add_argument("--from", dest="from_", metavar="DATE",
                   help="first candle opening at or after DATE (ISO date or datetime, UTC)")
    p.add_argument("--to", metavar="DATE", help="last candle opening before DATE")
    p.add_argument("--compare", action="append", default=[], metavar="SPEC",
                   help="also run: hold, calendar:24h, calendar:7d, symmetric:0.02, or another "
                   "config file (repeatable; hold is always shown)")
    p.add_argument("--fill", choices=FILL_MODELS, default="sim",
                   help="sim: the simulator's matching on a book around each candle's price "
                   "path (default); close: the close +/- execution.slippage_pct, full fill")
    p.add_argument("--balance", action="append", default=[], metavar="ASSET=QTY",
                   help="starting balance (repeatable), e.g. --balance QRL=10000 "
                   "--balance USDT=500")
    p.add_argument("--start-value", metavar="V",
                   help="starting value in the quote asset, split at the target ratio "
                   f"(default {DEFAULT_START_VALUE} when no --balance is given)")
    p.add_argument("--rescale-to", action="append", metavar="PRICE",
                   help="multiply the series' prices so that its first close is PRICE; with "
                   "a portfolio config PAIR=PRICE (repeatable)")
    p.add_argument("--report", metavar="DIR", help="also write a browser report to DIR")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (decimals as strings) and nothing else")
    p.set_defaults(handler=handle)


def _range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """--from and --to as epoch ms."""
    from_ms = None if args.from_ is None else parse_when(args.from_, "--from")
    to_ms = None if args.to is None else parse_when(args.to, "--to")
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise InputError(f"--to {args.to} is not after --from {args.from_}")
    return from_ms, to_ms


def _history(settings: Settings) -> int:
    return max(DAEMON_BACKFILL, settings.strategy.ma_long + 2)


def _series(args: argparse.Namespace, settings: Settings) -> CandleSeries:
    """The candles from --from to --to, and before --from as many as the daemon backfills at
    its start (they only fill the window: a backtest from DATE decides as a daemon started
    then, with its averages and trend already known)."""
    from_ms, to_ms = _range(args)
    return read_candles(args.candles[-1], from_ms=from_ms, to_ms=to_ms,
                        history=_history(settings))


def build_replay(args: argparse.Namespace, settings: Settings, fill_model: str) -> Replay:
    series = _series(args, settings)
    rescale_to = None if args.rescale_to is None else args.rescale_to[-1]
    candles, decimals = replay_prices(series, positive(rescale_to, "--rescale-to"),
                                      SimConfig().quote_precision)
    warmup = len(series.history)
    first = candles[warmup]  # the first candle replayed
    if first.close <= 0:
        raise InputError(f"{series.path}: the first close is 0 after --rescale-to")
    rules = sim_rules(settings.symbol, decimals)
    start_value = positive(args.start_value, "--start-value")
    if args.balance and start_value is not None:
        raise InputError("give --balance or --start-value, not both")
    if args.balance:
        base, quote = parse_balances(args.balance, rules)
    else:
        base, quote = split_value(start_value or DEFAULT_START_VALUE, settings.strategy.ratio,
                                  first.close, rules)
    if base * first.close + quote <= 0:
        raise InputError("the starting portfolio is empty (--balance)")
    return Replay(rules, candles, series.interval_ms, series.gaps, base, quote, fill_model,
                  warmup=warmup)


def progress_bar(stream: TextIO) -> Callable[[int, int], None]:
    """A one-line bar redrawn in place (only on a terminal)."""
    shown = -1

    def show(done: int, total: int) -> None:
        nonlocal shown
        pct = done * 100 // max(total, 1)
        if pct == shown:
            return
        shown = pct
        bar = "#" * (pct // 4)
        stream.write(f"\rbacktest [{bar:<25}] {pct:3d}% ({done}/{total} candles)")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


ReportWriter = Callable[[BacktestResult, Path], object]
PortfolioReportWriter = Callable[[PortfolioResult, Path], object]


def _report_module(name: str) -> Any:
    """``daemon.backtest.<name>``, imported only when ``--report`` asks for it (and before the
    replay, so a build without it fails at once)."""
    try:
        return importlib.import_module(f"daemon.backtest.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"daemon.backtest.{name}":
            raise
        raise InputError("--report: this build has no browser report "
                         f"(daemon/backtest/{name}.py is missing)") from None


def report_writer() -> ReportWriter:
    """``daemon.backtest.report.write_report``."""
    writer: ReportWriter = _report_module("report").write_report
    return writer


def portfolio_report_writer() -> PortfolioReportWriter:
    """``daemon.backtest.portfolio_report.write_report``."""
    writer: PortfolioReportWriter = _report_module("portfolio_report").write_report
    return writer


def handle_portfolio(args: argparse.Namespace, settings: Settings,
                     portfolio: PortfolioSettings) -> int:
    """A config with ``portfolio:``: every pair's file replayed aligned by time
    (``daemon.backtest.portfolio_runner``), figures per asset and in total."""
    writer = None if args.report is None else portfolio_report_writer()
    from_ms, to_ms = _range(args)
    flags = PortfolioFlags(args.candles, args.rescale_to or [], args.balance, args.start_value,
                           from_ms, to_ms, _history(settings), args.fill, DEFAULT_START_VALUE)
    replay = build_portfolio_replay(flags, portfolio)
    config_spec = from_settings("config", settings)
    specs = [config_spec, *(parse_compare(text, config_spec) for text in args.compare)]
    show = progress_bar(sys.stderr) if sys.stderr.isatty() and not args.json else None
    result = run_portfolio(replay, specs, show)
    if writer is not None:
        where = writer(result, Path(args.report))
        print(f"report written to {where}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(portfolio_json(result), indent=2), flush=True)
    else:
        print(portfolio_table(result), flush=True)
    return 0


def handle(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings.portfolio is not None:
        return handle_portfolio(args, settings, settings.portfolio)
    writer = None if args.report is None else report_writer()
    replay = build_replay(args, settings, args.fill)
    config_spec = from_settings("config", settings)
    specs: list[StrategySpec] = [config_spec,
                                 *(parse_compare(text, config_spec) for text in args.compare)]
    show = progress_bar(sys.stderr) if sys.stderr.isatty() and not args.json else None
    result = run_backtest(replay, specs, show)
    if writer is not None:
        written = writer(result, Path(args.report))
        where = written if isinstance(written, Path) else Path(args.report)
        print(f"report written to {where}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(to_json(result), indent=2), flush=True)
    else:
        print(table(result), flush=True)
    return 0
