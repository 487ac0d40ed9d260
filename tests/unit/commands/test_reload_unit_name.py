"""``rebalancer reload`` names the service to restart or read the log of: the rebalancer unit
the daemon runs in (from /proc/PID/cgroup), never another service's."""

from __future__ import annotations

import pytest

from daemon.commands.reload import unit_in_cgroup


@pytest.mark.parametrize(("text", "unit"), [
    ("0::/system.slice/system-rebalancer.slice/rebalancer@qrl.service\n", "rebalancer@qrl"),
    ("0::/system.slice/rebalancer.service\n", "rebalancer"),
    ("12:pids:/system.slice/rebalancer@btc.service\n1:name=systemd:/system.slice/"
     "rebalancer@btc.service\n0::/\n", "rebalancer@btc"),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", None),  # run by hand
    ("0::/system.slice/ci-runner.service\n", None),  # under another service
    ("0::/\n", None),
])
def test_unit_in_cgroup(text: str, unit: str | None) -> None:
    assert unit_in_cgroup(text) == unit
