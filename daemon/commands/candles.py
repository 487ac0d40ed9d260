"""``rebalancer candles fetch --symbol QRLUSDT --interval Min5 --days 30 -o FILE.csv``: download
real candle history from MEXC REST so users can backtest their own pair.

The range is read the way the real exchange needs it (PROTOCOL.md section 9), by the daemon's
own gap-repair pager (``daemon.adapters.mexc.kline_pages`` through ``MexcRest.klines_range``):
windows of at most 500 candles, each with an explicit ``startTime`` and an exclusive
``endTime``, every answer checked against the window asked for. Only CLOSED candles are
written: the range ends at the open of the forming candle (server time). Candles the exchange
does not have (no trading, maintenance) are reported as gaps and never invented.

The file has the layout of ../shared/data (MEXC kline rows, one header line):
``open_time_ms,open,high,low,close,volume,close_time_ms,quote_volume``. It is written to a
temporary name beside it and renamed; an existing file is never replaced without ``--force``.

Exit codes: 0 written (gaps, if any, reported); 2 a bad flag, config or output path, or a
symbol MEXC does not know; 1 the exchange failed or answered no candle at all.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from daemon.adapters.mexc import intervals
from daemon.adapters.mexc.kline_pages import KlineRange
from daemon.adapters.mexc.rest import MexcRest
from daemon.config import ExchangeSettings, load_config
from daemon.domain.models import Candle
from daemon.domain.money import fmt
from daemon.errors import InputError, RebalancerError, SymbolNotTradable

HEADER = ("open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms",
          "quote_volume")
DAY_MS = 86_400_000
MAX_DAYS = 3650
DEFAULT_INTERVAL = "Min5"
_SYMBOL = re.compile(r"[A-Z0-9]{2,30}")
_SHOWN_GAPS = 5


@dataclass(frozen=True, slots=True)
class FetchRequest:
    symbol: str
    interval: intervals.KlineInterval
    step_ms: int
    days: int
    output: Path
    force: bool
    exchange: ExchangeSettings


def register(sub: Any) -> None:
    p = sub.add_parser("candles", help="candle history for backtests (download from MEXC)")
    psub = p.add_subparsers(dest="candles_command", metavar="SUBCOMMAND", required=True)
    f = psub.add_parser(
        "fetch", help="download closed candles from MEXC REST into a CSV file",
        description="Download the closed candles of the last --days days from MEXC REST into "
                    "a CSV file (the layout `rebalancer backtest --candles` reads). Candles "
                    "the exchange does not have are reported, never invented. No API keys "
                    "needed.")
    f.add_argument("--symbol", metavar="PAIR",
                   help="MEXC spot pair, e.g. QRLUSDT (default: the config's symbol with -c)")
    f.add_argument("--interval", metavar="NAME",
                   help="kline interval, websocket or REST name: Min1, Min5, Min15, Min30, "
                        "Min60, Hour4, Day1 (default: the config's exchange.kline_interval "
                        f"with -c, else {DEFAULT_INTERVAL})")
    f.add_argument("--days", type=int, default=30, metavar="N",
                   help="how many days back from now (default 30)")
    f.add_argument("-o", "--output", required=True, metavar="FILE.csv",
                   help="CSV file to write (refused if it exists, unless --force)")
    f.add_argument("--force", action="store_true", help="replace FILE.csv if it exists")
    f.add_argument("-c", "--config", metavar="FILE",
                   help="take the REST url (exchange.rest_url), symbol and interval from this "
                        "config (optional)")
    f.add_argument("--rest-url", metavar="URL",
                   help="MEXC REST base url (default: the config's exchange.rest_url, "
                        f"{ExchangeSettings().rest_url})")
    f.set_defaults(handler=handle_fetch)


def handle_fetch(args: argparse.Namespace) -> int:
    request = parse_request(args)
    got = asyncio.run(fetch(request))
    rows = got.rows
    if not rows:
        raise RebalancerError(f"MEXC answered no {request.interval.ws} candle of "
                              f"{request.symbol} in the last {request.days} days; nothing "
                              "written")
    write_csv(request.output, rows, force=request.force)
    print(f"wrote {len(rows)} closed {request.interval.ws} candles of {request.symbol} "
          f"({utc(rows[0].open_time_ms)} to {utc(rows[-1].close_time_ms)} UTC, "
          f"{got.requests} request{'' if got.requests == 1 else 's'}) to {request.output}")
    print(gap_report(got.gaps, request.step_ms))
    return 0


def parse_request(args: argparse.Namespace) -> FetchRequest:
    """The flags checked (InputError naming the flag), before anything is asked."""
    exchange, symbol, interval = ExchangeSettings(), args.symbol, args.interval
    if args.config is not None:
        settings = load_config(args.config)
        exchange = settings.exchange
        symbol = symbol or settings.symbol
        interval = interval or settings.exchange.kline_interval
    if args.rest_url is not None:
        try:
            exchange = exchange.model_copy(update={"rest_url": ExchangeSettings(
                rest_url=args.rest_url).rest_url})
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise InputError(f"--rest-url {args.rest_url!r}: {msg}") from None
    if not symbol:
        raise InputError("--symbol is required (e.g. --symbol QRLUSDT), or -c with a config")
    symbol = symbol.upper()
    if not _SYMBOL.fullmatch(symbol):
        raise InputError(f"--symbol {symbol!r}: expected a MEXC pair such as QRLUSDT")
    kline, step = _interval(interval or DEFAULT_INTERVAL)
    days: int = args.days
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"--days must be within 1..{MAX_DAYS}, got {days}")
    if days * DAY_MS < step:
        raise InputError(f"--days {days} is shorter than one {kline.ws} candle")
    return FetchRequest(symbol, kline, step, days, _output(Path(args.output), args.force),
                        args.force, exchange)


def _interval(name: str) -> tuple[intervals.KlineInterval, int]:
    try:
        kline = intervals.signal_interval(name)
    except ValueError as exc:
        raise InputError(f"--interval {name}: {exc}") from None
    if kline.ws in ("Week1",):
        raise InputError(f"--interval {name}: weekly candles are not supported here (their "
                         "grid starts on Mondays); use Day1")
    return kline, intervals.interval_ms(kline.ws)


def _output(path: Path, force: bool) -> Path:
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory; give a file name")
    if not path.parent.is_dir():
        raise InputError(f"-o {path}: the directory {path.parent} does not exist")
    if (path.exists() or path.is_symlink()) and not force:
        raise InputError(f"-o {path}: exists; pass --force to replace it")
    return path


async def fetch(request: FetchRequest) -> KlineRange:
    """The closed candles of ``request`` (rows and gaps), read with the daemon's pager."""
    rest = MexcRest(request.exchange, None)
    try:  # not ``async with``: a start() that fails would leave the session open
        await rest.start()
        now = await rest.server_time_ms()
        end = now // request.step_ms * request.step_ms  # the forming candle's open: excluded
        start = end - request.days * DAY_MS // request.step_ms * request.step_ms
        return await rest.klines_range(request.symbol, request.interval.ws, start, end)
    except SymbolNotTradable as exc:
        raise InputError(f"--symbol {request.symbol}: {exc}") from None
    finally:
        await rest.close()


def gap_report(gaps: Sequence[tuple[int, int]], step_ms: int) -> str:
    """One line: no gaps, or how many candles are missing where (the first few)."""
    if not gaps:
        return "no gaps: every candle of the range is there"
    missing = sum((b - a) // step_ms for a, b in gaps)
    shown = ", ".join(f"{utc(a)} to {utc(b)}" for a, b in gaps[:_SHOWN_GAPS])
    more = f" and {len(gaps) - _SHOWN_GAPS} more" if len(gaps) > _SHOWN_GAPS else ""
    return (f"{missing} candles missing at the exchange in {len(gaps)} gap(s), left as gaps "
            f"(not filled in): {shown}{more}")


def write_csv(path: Path, rows: Sequence[Candle], *, force: bool) -> None:
    """``rows`` to ``path`` through a temporary file; without ``force`` an existing file
    (also one that appeared meanwhile) is never replaced."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(HEADER)
            out.writerows((c.open_time_ms, fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close),
                           fmt(c.volume), c.close_time_ms, fmt(c.quote_volume)) for c in rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file exists: no check-then-write race
    except FileExistsError:
        raise InputError(f"-o {path}: exists; pass --force to replace it") from None
    except OSError as exc:
        raise InputError(f"-o {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
