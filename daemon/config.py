"""Frozen, validated settings loaded from config.yaml, secrets from the environment.

``load_config(path)`` returns a ``Settings``; every problem (unknown key, wrong type, value out
of range) raises ``ConfigError`` whose ``problems`` name the key path. A reload builds a new
``Settings`` and ``diff_settings`` tells which keys changed and which of them need a restart.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.adapters.mexc.intervals import signal_interval
from daemon.config_portfolio import PortfolioSettings
from daemon.config_problems import format_problem, setting_of, without
from daemon.config_rules import broken_rules
from daemon.config_yaml import MAX_CONFIG_BYTES, load_yaml_lines
from daemon.domain.params import RiskParams, StrategyParams
from daemon.errors import ConfigError

Fraction = Annotated[Decimal, Field(ge=0, le=1)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]
NonNegDecimal = Annotated[Decimal, Field(ge=0)]


# Validation context of ``parse_settings``: the model validators leave the rules between keys
# to it (``daemon.config_rules``), which runs them even when other keys are invalid.
_COLLECT = {"collect_rules": True}


def _rules_left_to_caller(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("collect_rules"))


def log_rotation(value: str) -> None:
    """ValueError unless loguru (``log.rotation``) reads ``value``: a size ("50 MB"), an
    interval ("1 week", "12 h"), a frequency ("daily") or a time ("00:00", "monday at 12:00").
    Asked through loguru's public API: a file sink that is never opened (``delay``, and a
    filter that lets nothing through), added and removed at once."""
    from loguru import logger

    try:
        sink = logger.add("rotation-check.log", rotation=value, delay=True,
                          filter=lambda _record: False)
    except (ValueError, TypeError):
        raise ValueError("not a size (\"50 MB\"), an interval (\"1 week\", \"12 h\"), a "
                         "frequency (\"daily\", \"weekly\") or a time of day (\"00:00\", "
                         "\"monday at 12:00\")") from None
    logger.remove(sink)


class Mode(StrEnum):
    LIVE = "live"
    DRY_RUN = "dry_run"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _floats_through_repr(cls, value: Any) -> Any:
        # YAML gives 0.01 as a float; go through its repr so Decimal gets "0.01", never the
        # binary approximation. Bools stay bools (pydantic rejects them for numbers).
        if isinstance(value, float):
            return repr(value)
        return value


class ExchangeSettings(_Section):
    rest_url: str = "https://api.mexc.com"
    ws_url: str = "wss://wbs-api.mexc.com/ws"
    recv_window_ms: int = Field(10_000, ge=1, le=60_000)
    request_timeout_ms: int = Field(10_000, ge=100, le=120_000)
    kline_interval: str = "Min5"  # a websocket name the candle window can run on
    ws_ping_interval_s: float = Field(20, gt=0, le=60)
    ws_stale_after_s: float = Field(45, gt=0, le=600)
    ws_data_stale_after_s: float | None = Field(600, gt=0, le=86_400)
    ws_max_connection_age_s: float = Field(23 * 3600, gt=0, le=24 * 3600)
    ws_reconnect_max_backoff_s: float = Field(30, gt=0, le=600)
    listen_key_keepalive_s: float = Field(1800, gt=0, le=3600)
    balance_refresh_s: float = Field(300, gt=0)
    rate_limit_weight_per_10s: int = Field(400, ge=10, le=500)

    @field_validator("rest_url", "ws_url")
    @classmethod
    def _url(cls, value: str, info: Any) -> str:
        prefixes = ("http://", "https://") if info.field_name == "rest_url" else ("ws://", "wss://")
        if not value.startswith(prefixes):
            raise ValueError(f"must start with {' or '.join(prefixes)}")
        return value.rstrip("/")

    @field_validator("kline_interval")
    @classmethod
    def _kline_interval(cls, value: str) -> str:
        ws = signal_interval(value).ws
        if ws != value:
            raise ValueError(f"use the websocket name {ws!r}, not {value!r}")
        return value


class StrategySettings(_Section):
    name: Literal["intelligent", "symmetric"] = "intelligent"
    ratio: Fraction = Decimal("0.5")
    threshold: Fraction = Decimal("0.01")
    ma_short: int = Field(7, ge=1, le=1000)
    ma_long: int = Field(25, ge=2, le=1000)
    deadband: Fraction = Decimal("0")
    buy_discount: Fraction = Decimal("0")
    profit_target: NonNegDecimal = Decimal("0.03")
    core_pct: Fraction = Decimal("0.70")
    initial_cost_basis: PositiveDecimal | None = None
    max_drift: Annotated[Decimal, Field(gt=0, le=1)] | None = Decimal("0.10")
    rebalance_fraction: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("1")

    @model_validator(mode="after")
    def _periods(self, info: ValidationInfo) -> StrategySettings:
        if not _rules_left_to_caller(info) and self.ma_short >= self.ma_long:
            raise ValueError(
                f"ma_short ({self.ma_short}) must be smaller than ma_long ({self.ma_long})"
            )
        return self

    def params(self) -> StrategyParams:
        """The plain values the domain's rules read."""
        return StrategyParams(
            name=self.name, ratio=self.ratio, threshold=self.threshold, ma_short=self.ma_short,
            ma_long=self.ma_long, deadband=self.deadband, buy_discount=self.buy_discount,
            profit_target=self.profit_target, core_pct=self.core_pct,
            max_drift=self.max_drift, rebalance_fraction=self.rebalance_fraction,
        )


class RiskSettings(_Section):
    min_notional: NonNegDecimal = Decimal("5")
    max_order_notional: PositiveDecimal = Decimal("1000")
    usdt_reserve: NonNegDecimal = Decimal("0")
    min_trade_interval_s: int = Field(300, ge=0)
    max_trades_per_day: int = Field(12, ge=0)
    max_price_deviation_pct: NonNegDecimal = Decimal("10")
    stale_after_s: int = Field(120, ge=1)
    max_spread_pct: Annotated[Decimal, Field(gt=0)] | None = Decimal("1.0")

    def params(self) -> RiskParams:
        """The plain values the domain's rules read."""
        return RiskParams(
            min_notional=self.min_notional, max_order_notional=self.max_order_notional,
            usdt_reserve=self.usdt_reserve, min_trade_interval_s=self.min_trade_interval_s,
            max_trades_per_day=self.max_trades_per_day,
            max_price_deviation_pct=self.max_price_deviation_pct,
            stale_after_s=self.stale_after_s, max_spread_pct=self.max_spread_pct,
        )


class ExecutionSettings(_Section):
    order_type: Literal["marketable_limit", "ioc", "limit_maker", "market"] = "marketable_limit"
    slippage_pct: Annotated[Decimal, Field(ge=0, le=10)] = Decimal("0.5")
    order_timeout_s: float = Field(60, gt=0, le=3600)
    poll_max_interval_s: float = Field(3, gt=0, le=30)
    client_order_prefix: str = Field("rb", pattern=r"^[A-Za-z0-9]{1,8}$")
    unknown_order_retries: int = Field(5, ge=1, le=50)
    not_found_grace_s: float = Field(10, ge=0, le=600)
    lost_order_watch_s: float = Field(3600, ge=0)
    on_shutdown: Literal["cancel", "leave"] = "cancel"
    on_halt: Literal["cancel", "leave"] = "cancel"


class ScheduleSettings(_Section):
    interval_s: int = Field(900, ge=1, le=86_400)
    evaluate_on_crossover: bool = True


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str | None = None
    plan_history_max: int = Field(1000, ge=1, le=100_000)
    recent_orders_max: int = Field(500, ge=1, le=100_000)
    heartbeat_ttl_s: int = Field(60, ge=2)
    lease_ttl_s: int = Field(30, ge=2, le=600)
    retry_interval_s: float = Field(2, gt=0, le=60)
    allow_volatile: bool = False

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class LogSettings(_Section):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    file: str | None = None
    rotation: str = "50 MB"
    retention_files: int = Field(5, ge=1, le=1000)

    @field_validator("rotation")
    @classmethod
    def _rotation(cls, value: str) -> str:
        log_rotation(value)  # ValueError naming what is wrong
        return value


class HealthSettings(_Section):
    heartbeat_interval_s: float = Field(10, gt=0, le=3600)
    # "host:port" of the /healthz and /metrics endpoint (runtime/http_endpoint.py); None: off.
    # Loopback is the documented choice; any other address is taken as given (explicit).
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)  # ValueError naming what is wrong
        return value


class RuntimeSettings(_Section):
    shutdown_grace_s: float = Field(10, gt=0, le=600)
    restart_backoff_s: float = Field(1.0, gt=0, le=600)
    restart_backoff_max_s: float = Field(30.0, gt=0, le=3600)
    restart_max_deaths: int = Field(5, ge=1, le=1000)
    restart_window_s: float = Field(300.0, gt=0, le=86400)
    # a startup request that fails transiently (or answers garbage) is tried again with
    # backoff for this long; below systemd's TimeoutStartSec (120 s) so the daemon says why
    startup_timeout_s: float = Field(90.0, gt=0, le=3600)


NotifyEvent = Literal["started", "stopped", "order", "halted", "resumed", "trading_stopped",
                      "drift", "daily_summary"]
SECRET_REF = r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"  # ${NAME}: environment, else $CREDENTIALS_DIRECTORY


class NotifySettings(_Section):
    """Operator notifications (``daemon.runtime.alerts``); secrets only as ``${NAME}``."""

    urls: tuple[str, ...] = ()
    drift_alert: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.05")
    drift_alert_after_s: float = Field(1800, ge=0)
    daily_summary_utc: str | None = Field(None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    queue_max: int = Field(100, ge=1, le=100_000)
    events: tuple[NotifyEvent, ...] | None = None
    send_timeout_s: float = Field(10, gt=0, le=300)
    retries: int = Field(3, ge=0, le=20)
    redis_outage_alert_s: float = Field(60, gt=0)

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for i, url in enumerate(urls):
            scheme, sep, rest = url.partition("://")
            if not sep or not scheme or not rest:
                raise ValueError(f"urls[{i}] is not a URL (scheme://...)")
            left = re.sub(SECRET_REF, "", url)
            if "${" in left:
                raise ValueError(f"urls[{i}]: a secret reference is written ${{NAME}} (letters, "
                                 "digits, _)")
        return urls


class Settings(_Section):
    mode: Mode = Mode.DRY_RUN
    symbol: str = Field("QRLUSDT", pattern=r"^[A-Z0-9]{2,20}$")
    exchange: ExchangeSettings = ExchangeSettings()
    strategy: StrategySettings = StrategySettings()
    risk: RiskSettings = RiskSettings()
    execution: ExecutionSettings = ExecutionSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    redis: RedisSettings = RedisSettings()
    log: LogSettings = LogSettings()
    health: HealthSettings = HealthSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    notify: NotifySettings = NotifySettings()
    portfolio: PortfolioSettings | None = None  # several assets (STRATEGY.md v3); None: symbol

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Settings:
        if not _rules_left_to_caller(info):
            broken = broken_rules(self)
            if broken:
                raise ValueError("; ".join(f"{key}: {problem}" for key, problem in broken))
        return self

    @property
    def key_prefix(self) -> str:
        """The process's keys (lease, heartbeat, halt, plans, requests): the single pair's
        and a one-asset portfolio's pair prefix; for several assets the portfolio's,
        ``bot:<QUOTE>-<ASSET>-...:`` (assets sorted), each pair's books under its own."""
        if self.redis.key_prefix:
            return self.redis.key_prefix
        p = self.portfolio
        if p is None:
            return f"bot:{self.symbol}:"
        if len(p.targets) == 1:
            return f"bot:{next(iter(p.pairs().values()))}:"
        return f"bot:{'-'.join([p.quote, *sorted(p.targets)])}:"


class Credentials(BaseModel):
    """API credentials; never printed (SecretStr masks them in repr and str)."""

    model_config = ConfigDict(frozen=True)
    api_key: SecretStr
    api_secret: SecretStr


# Keys whose change only takes effect after a restart (a reload logs and ignores them).
RESTART_KEYS: tuple[str, ...] = ("mode", "symbol", "exchange", "redis", "portfolio")
RESTART_FIELDS: tuple[str, ...] = ("health.listen",)  # one key of a reloadable section


def listen_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` or ``"[::1]:9464"`` -> (host, port); ValueError naming the
    problem. The host is an IP address (no name lookup: what is bound is what is written)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError("must be host:port, e.g. 127.0.0.1:9464")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host {host!r} must be an IP address (127.0.0.1 for this machine "
                         "only, 0.0.0.0 for every interface)") from None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} must be a number within 0..65535 (0: any free "
                         "port, logged at start)")
    return host, int(port_text)


def parse_settings(data: object, *, source: str = "config",
                   lines: Mapping[str, int] | None = None) -> Settings:
    """Validate an already-parsed document into Settings or raise ConfigError listing every
    problem at once: each bad key, and each rule between keys (``daemon.config_rules``) that
    the keys which did parse break. ``lines`` (dotted key -> line) puts lines in the report."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    lines = lines or {}
    problems: list[str] = []
    bad: list[tuple[Any, ...]] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data, context=_COLLECT)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [format_problem(e, lines) for e in errors]
        sections = {name for name, field in Settings.model_fields.items()
                    if isinstance(field.default, _Section)}
        bad = [setting_of(tuple(e["loc"]), sections) for e in errors]
        try:  # the keys that did parse, for the rules between them
            settings = Settings.model_validate(without(data, bad), context=_COLLECT)
        except ValidationError:
            settings = None
    if settings is not None:
        bad_keys = [".".join(str(p) for p in key) for key in bad]
        for key, problem in broken_rules(settings, bad_keys):
            line = lines.get(key)
            problems.append(f"{key}: {problem}" + (f" (line {line})" if line else ""))
    if problems or settings is None:
        raise ConfigError(f"{source}: {len(problems)} problem(s)", problems)
    return settings


def load_config(path: str | os.PathLike[str]) -> Settings:
    """Read and validate ``path``. Raises ConfigError naming the file and each bad key, or the
    line of a file that is not strict YAML (``daemon.config_yaml``)."""
    p = Path(path)
    try:
        with p.open("rb") as file:  # a config is small: never read more than the limit
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    data, lines = load_yaml_lines(raw, str(p))
    return parse_settings(data, source=str(p), lines=lines)


def read_secret(name: str, env: Mapping[str, str]) -> str | None:
    value = env.get(name)
    if value:
        return value.strip()
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        for candidate in (name, name.lower()):
            f = Path(cred_dir) / candidate
            if f.is_file():
                try:
                    return f.read_text(encoding="utf-8").strip() or None
                except (OSError, UnicodeDecodeError) as exc:
                    why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                    raise ConfigError(f"credentials: cannot read {f}: {why}") from None
    return None


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials | None:
    """MEXC_API_KEY / MEXC_API_SECRET from the environment, else from files of those names in
    $CREDENTIALS_DIRECTORY (systemd LoadCredential=). None when neither is set; ConfigError
    when only one of the two is."""
    env = os.environ if env is None else env
    key = read_secret("MEXC_API_KEY", env)
    secret = read_secret("MEXC_API_SECRET", env)
    if key is None and secret is None:
        return None
    if key is None or secret is None:
        missing = "MEXC_API_KEY" if key is None else "MEXC_API_SECRET"
        raise ConfigError(f"credentials: {missing} is missing (the other one is set)")
    return Credentials(api_key=SecretStr(key), api_secret=SecretStr(secret))


def require_credentials_for_mode(settings: Settings, creds: Credentials | None) -> None:
    if settings.mode is Mode.LIVE and creds is None:
        raise ConfigError(
            "mode: live needs MEXC_API_KEY and MEXC_API_SECRET in the environment or in "
            "$CREDENTIALS_DIRECTORY; none were found"
        )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def diff_settings(old: Settings, new: Settings) -> tuple[list[str], list[str]]:
    """Return (reloadable changed keys, restart-only changed keys), as dotted paths."""
    a = _flatten(old.model_dump(mode="json"))
    b = _flatten(new.model_dump(mode="json"))
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    restart = [k for k in changed if k.split(".", 1)[0] in RESTART_KEYS
               or k in RESTART_FIELDS]
    reloadable = [k for k in changed if k not in restart]
    return reloadable, restart


def apply_reload(old: Settings, new: Settings) -> Settings:
    """The settings to run with after a reload: ``new`` with restart-only sections kept from
    ``old``."""
    kept = {name: getattr(old, name) for name in RESTART_KEYS}
    kept["health"] = new.health.model_copy(update={"listen": old.health.listen})
    return new.model_copy(update=kept)


def effective_config(settings: Settings, creds: Credentials | None) -> dict[str, Any]:
    """The config as it will run, plus masked credentials: for check-config output."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["redis"]["key_prefix"] = settings.key_prefix
    data["redis"]["url"] = mask_url_password(settings.redis.url)
    data["credentials"] = (
        None
        if creds is None
        else {"api_key": mask(creds.api_key.get_secret_value()), "api_secret": "********"}
    )
    return data


def mask(value: str) -> str:
    """Show at most the first 4 characters of an identifier, never of a secret."""
    if len(value) <= 8:
        return "********"
    return value[:4] + "********"


def mask_url_password(url: str) -> str:
    """redis://user:secret@host -> redis://user:********@host."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, hostpart = rest.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{user}{':********' if colon else ''}@{hostpart}"
