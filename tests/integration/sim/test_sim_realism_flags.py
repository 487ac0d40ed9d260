"""``rebalancer sim`` realism flags: --kind-exchange and the per-point knobs map onto
``Realism``; bad values exit 2 with a message naming the flag."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

import aiohttp
import pytest

from daemon.cli import build_parser, main
from daemon.commands.sim import build_config
from daemon.sim import Realism
from tests.support.sim_process import start_sim


def _realism(*args: str) -> Realism:
    cfg = build_config(build_parser().parse_args(["sim", *args]))
    assert isinstance(cfg.realism, Realism)
    return cfg.realism


def test_realistic_by_default_and_kind_on_request() -> None:
    assert _realism() == Realism()
    assert _realism("--kind-exchange") == Realism.kind()


def test_each_flag_sets_its_point() -> None:
    assert _realism("--trade-ids", "same", "--minimal-replies", "0.5",
                    "--not-found-after-create-s", "1.5", "--cancel-client-id", "echo") == \
        dataclasses.replace(Realism(), trade_ids="same", minimal_replies=0.5,
                            not_found_after_create_s=1.5, cancel_client_id="echo")
    # on top of --kind-exchange: one point back on
    assert _realism("--kind-exchange", "--trade-ids", "distinct") == dataclasses.replace(
        Realism.kind(), trade_ids="distinct")


@pytest.mark.parametrize(("args", "message"), [
    (["--trade-ids", "equal"], "--trade-ids 'equal': must be same or distinct"),
    (["--cancel-client-id", "mine"], "--cancel-client-id 'mine': must be own or echo"),
    (["--minimal-replies", "1.2"], "--minimal-replies '1.2': must be within 0..1"),
    (["--minimal-replies", "nan"], "--minimal-replies 'nan': must be within 0..1"),
    (["--minimal-replies", "lots"], "--minimal-replies 'lots': not a number"),
    (["--not-found-after-create-s", "-1"], "--not-found-after-create-s '-1': must be within"),
    (["--not-found-after-create-s", "soon"], "--not-found-after-create-s 'soon': not a number"),
])
def test_bad_realism_flags_exit_2(args: list[str], message: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--port", "0", *args]) == 2
    assert message in capsys.readouterr().err


async def test_kind_exchange_process_serves_the_documented_exchange() -> None:
    proc, rest = await start_sim("--kind-exchange")
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{rest}/klines", params={
                "symbol": "QRLUSDT", "interval": "1m", "limit": "1000"}) as r:
            rows = await r.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert len(rows) == 1000 and b"(kind exchange)" in out
