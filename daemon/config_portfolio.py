"""``portfolio:`` in config.yaml (STRATEGY.md v3): several base assets against one quote.

    portfolio:
      quote: USDT
      targets: {QRL: 0.25, BTC: 0.25}     # each asset's share of the value; the quote's is
                                           # what they leave (here 0.5)

Asset names are letters and digits, read case-insensitively and kept upper-case. Refused, each
naming its key: a weight outside (0, 1], weights summing above 1, an asset listed twice (``QRL``
and ``qrl``), a name that is not an asset name, and (``daemon.config_rules``) a target equal to
the quote asset. The single-pair form (``symbol`` + ``strategy.ratio``) stays valid without this
section. Whether each pair ``<ASSET><QUOTE>`` exists and is tradable only the exchange knows:
:func:`pair_problems` names the ones that do not, given its symbol list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

ASSET_NAME = re.compile(r"[A-Za-z0-9]{1,20}")
MAX_ASSETS = 36  # the legs of one evaluation: one base-36 character of the client order id
Weight = Annotated[Decimal, Field(gt=0, le=1)]


def _asset(value: str, what: str = "asset") -> str:
    """``value`` unchanged when it is an asset name (upper-cased by the caller, so that a
    second spelling is seen), else ValueError."""
    if not ASSET_NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not an asset name (1 to 20 letters and digits, "
                         "e.g. BTC)")
    return value


AssetName = Annotated[str, AfterValidator(_asset)]


class PortfolioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    quote: str = "USDT"
    targets: dict[AssetName, Weight]

    @field_validator("quote", mode="before")
    @classmethod
    def _quote(cls, value: Any) -> Any:
        return _asset(value, "quote asset").upper() if isinstance(value, str) else value

    @field_validator("targets", mode="before")
    @classmethod
    def _weights_through_repr(cls, value: Any) -> Any:
        # YAML gives 0.1 as a float: through its repr, Decimal gets "0.1" (as _Section does)
        if isinstance(value, dict):
            return {k: repr(v) if isinstance(v, float) else v for k, v in value.items()}
        return value

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if not value:
            raise ValueError("list at least one asset and its weight, e.g. {BTC: 0.5}")
        out: dict[str, Decimal] = {}
        given: dict[str, str] = {}
        for name, weight in value.items():
            asset = name.upper()
            if asset in out:
                raise ValueError(f"{asset} is listed twice ({given[asset]!r} and {name!r})")
            out[asset], given[asset] = weight, name
        if len(out) > MAX_ASSETS:
            raise ValueError(f"{len(out)} assets listed, at most {MAX_ASSETS} (each leg of an "
                             "evaluation takes one base-36 character of its client order ids)")
        total = sum(out.values(), Decimal(0))
        if total > 1:
            raise ValueError(f"the weights sum to {total}, above 1 (the quote asset's target "
                             "is 1 less their sum)")
        return out

    def pairs(self) -> dict[str, str]:
        """asset -> its pair's symbol, e.g. {"BTC": "BTCUSDT"}, in the order listed."""
        return {asset: f"{asset}{self.quote}" for asset in self.targets}


def quote_listed_as_target(p: PortfolioSettings) -> str | None:
    """The rule between ``portfolio.targets`` and ``portfolio.quote``."""
    if p.quote in p.targets:
        return (f"{p.quote} is the quote asset (portfolio.quote): its target is what the "
                "other weights leave, do not list it")
    return None


def pair_problems(portfolio: PortfolioSettings, listed: Mapping[str, bool]) -> list[str]:
    """One problem per pair the exchange does not list, or lists as not tradable. ``listed``:
    symbol -> tradable, from the exchange's symbol list (``ExchangeRules.tradable``)."""
    out = []
    for asset, symbol in portfolio.pairs().items():
        if symbol not in listed:
            out.append(f"portfolio.targets.{asset}: the pair {symbol} does not exist on the "
                       "exchange")
        elif not listed[symbol]:
            out.append(f"portfolio.targets.{asset}: the pair {symbol} is not tradable on the "
                       "exchange now (status or spot trading off)")
    return out
