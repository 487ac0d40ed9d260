"""Settings and credentials pointing at a running simulator."""

from __future__ import annotations

from pydantic import SecretStr

from daemon.config import Credentials, ExchangeSettings, Settings
from daemon.sim import Simulator


def settings_for(sim: Simulator, **exchange: object) -> Settings:
    ex = ExchangeSettings.model_validate({"rest_url": sim.rest_url, "ws_url": sim.ws_url,
                                         "request_timeout_ms": 2000, **exchange})
    return Settings(symbol=sim.cfg.symbol, exchange=ex)


def creds_for(sim: Simulator) -> Credentials:
    return Credentials(api_key=SecretStr(sim.api_key), api_secret=SecretStr(sim.api_secret))
