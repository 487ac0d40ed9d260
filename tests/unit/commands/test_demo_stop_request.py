"""The demo's stop requests: a second Ctrl-C or SIGTERM hurries the stop (what is still
stopping is killed); a closed terminal never does, though it arrives as a SIGHUP and a failed
write together, or as two SIGHUPs (session leader and foreground group): that stop stays clean,
the daemon's last checkpoint written (a loaded run killed the daemon there)."""

from __future__ import annotations

import pytest

from daemon.commands.demo_processes import StopRequest


@pytest.mark.parametrize(("asked", "reason", "hurried"), [
    (["SIGHUP", "output closed"], "SIGHUP", False),
    (["output closed", "SIGHUP"], "output closed", False),
    (["SIGHUP", "SIGHUP"], "SIGHUP", False),
    (["SIGINT"], "SIGINT", False),
    (["SIGINT", "SIGINT"], "SIGINT", True),
    (["SIGHUP", "SIGTERM", "SIGTERM"], "SIGHUP", True),
    (["SIGTERM", "output closed", "SIGINT"], "SIGTERM", True),
])
def test_only_a_second_ctrl_c_or_sigterm_hurries_the_stop(asked: list[str], reason: str,
                                                          hurried: bool) -> None:
    stop = StopRequest()
    for what in asked:
        stop.ask(what)
    assert stop.asked and stop.reason == reason
    assert (stop.count >= 2) is hurried
