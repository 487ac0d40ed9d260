"""The daemon's HTTP endpoint (``health.listen``, off by default): ``/healthz`` for a load
balancer, a container runtime or a monitoring check, ``/metrics`` for Prometheus.

``GET /healthz``: 200 and a small JSON body while the daemon is up (started), its streams are
fresh (``engine.health()``, the verdict that feeds the systemd watchdog), Redis answers
(``store.available`` and a PING within ``PING_TIMEOUT_S``) and the lease state is known (held
and renewed within its TTL, or standing by); else 503 and the same body with ``reasons``.
``GET /metrics``: the engine's registry (``daemon.runtime.metrics``) in the Prometheus text
format. Started first by ``engine.start`` (so that a starting daemon answers 503 "starting")
and closed first by ``engine.close``. ``health.listen`` is read at start (a reload logs a
change of it and keeps the old address).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from loguru import logger
from prometheus_client import generate_latest

from daemon.config import listen_address
from daemon.errors import ConfigError, StoreUnavailable
from daemon.runtime.lease import Phase

if TYPE_CHECKING:
    from daemon.runtime.engine import RebalancerEngine

PING_TIMEOUT_S = 1.0  # a Redis that does not answer a PING this fast is reported down
SHUTDOWN_TIMEOUT_S = 1.0
# what generate_latest writes: the classic text format every Prometheus version reads
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpEndpoint:
    def __init__(self, engine: RebalancerEngine, listen: str) -> None:
        self.engine = engine
        self.listen = listen
        self.host, self.port = listen_address(listen)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; ConfigError naming ``health.listen`` when the address cannot be
        bound (taken, not on this machine, a privileged port)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"health.listen {self.listen}: cannot listen: "
                              f"{exc.strerror or exc}") from None
        self._runner = runner
        sockets = getattr(site._server, "sockets", None)
        if sockets:  # port 0: the one the system chose
            self.port = sockets[0].getsockname()[1]
        logger.info("health and metrics at {}/healthz and {}/metrics", self.url, self.url)
        if not ipaddress.ip_address(self.host).is_loopback:
            logger.warning("health.listen {}: /healthz and /metrics answer anyone who can "
                           "reach this address (no authentication): keep a firewall in front",
                           self.listen)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.engine.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _healthz(self, _request: web.Request) -> web.Response:
        body = await self.health()
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def health(self) -> dict[str, Any]:
        engine = self.engine
        lease = engine.lease
        reasons: list[str] = []
        if not engine.ready:
            reasons.append("starting")
        problem = engine.health()
        if problem is not None:
            reasons.append(problem)
        redis = await self._redis()
        if redis is not None:
            reasons.append(f"redis: {redis}")
        if lease.phase is Phase.STOPPING:
            reasons.append("stopping")
        elif lease.holds and not lease.valid_now():
            reasons.append("trading lease not confirmed within its TTL")
        price_ms = engine.market.last_price_ms
        last = engine.metrics.last_decided
        body: dict[str, Any] = {
            "status": "unhealthy" if reasons else "ok",
            "symbol": engine.settings.current.symbol,
            "mode": engine.settings.current.mode.value,
            "phase": lease.phase.value,
            "price_age_s": None if price_ms is None else _round(time.time() - price_ms / 1000),
            "last_evaluation_age_s": None if last is None else _round(time.monotonic() - last),
        }
        if reasons:
            body["reasons"] = reasons
        return body

    async def _redis(self) -> str | None:
        """None when Redis answers a PING in time, else why not."""
        store = self.engine.store
        try:
            await asyncio.wait_for(store.ping(), PING_TIMEOUT_S)
        except TimeoutError:
            return f"no answer to PING within {PING_TIMEOUT_S:g} s"
        except StoreUnavailable as exc:
            return str(exc)
        except RuntimeError:  # closed: the daemon is stopping
            return "not connected"
        return None if store.available else "unavailable"


def _round(seconds: float) -> float:
    return round(max(seconds, 0.0), 3)
