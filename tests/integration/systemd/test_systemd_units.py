"""The unit files: notify protocol, reload, restart policy, stop timeout above the grace
period, and a hardening score of 2.0 or lower from systemd-analyze."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from daemon.config import Settings

UNITS = Path(__file__).resolve().parents[3] / "systemd"


def service_section(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("name", ["rebalancer.service", "rebalancer@.service"])
def test_unit_contract(name: str) -> None:
    svc = service_section(name)
    assert svc["Type"] == ["notify"]
    assert svc["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert svc["Restart"] == ["on-failure"]
    assert svc["WatchdogSec"] and svc["User"] == ["rebalancer"]
    stop_s = int(svc["TimeoutStopSec"][0].removesuffix("s"))
    assert stop_s > Settings().runtime.shutdown_grace_s
    assert any(v.startswith("MEXC_API_SECRET:") for v in svc["LoadCredential"])
    assert " run -c /etc/rebalancer/" in svc["ExecStart"][0]
    # configparser accepts the file: no stray syntax.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string((UNITS / name).read_text())
    assert parser.has_section("Install")


@pytest.mark.parametrize("name", ["rebalancer.service", "rebalancer@.service"])
def test_hardening_score(name: str, tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze missing in CI")
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / name.replace("@.", "@qrlusdt.")
    unit.write_text((UNITS / name).read_text())
    out = subprocess.run([exe, "security", "--offline=yes", str(unit)], capture_output=True,
                         text=True, check=False).stdout
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert match, out[-500:]
    assert float(match.group(1)) <= 2.0
