"""A SIGHUP while the process starts is held for the daemon (daemon/early_hangup.py); the
other commands release it, so that a hangup still ends them, the held one included."""

from __future__ import annotations

import signal
import subprocess
import sys

HOLD_THEN = """
import os, signal, time
from daemon import early_hangup
early_hangup.hold()
os.kill(os.getpid(), signal.SIGHUP)
time.sleep(0.05)
print("held", flush=True)
{then}
print("survived", flush=True)
"""


def run(then: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HOLD_THEN.format(then=then)],
                          capture_output=True, text=True, timeout=20)


def test_a_held_sighup_is_taken_once() -> None:
    done = run("assert early_hangup.take() and not early_hangup.take()")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["held", "survived"]


def test_release_delivers_the_held_sighup() -> None:
    done = run("early_hangup.release(); time.sleep(2)")
    assert done.returncode == -signal.SIGHUP
    assert done.stdout.split() == ["held"]


def test_check_config_still_ends_on_a_hangup() -> None:
    """The CLI holds SIGHUP at import; a command other than run releases it."""
    code = ("import os, signal, sys, time\n"
            "from daemon import cli, early_hangup\n"
            "os.kill(os.getpid(), signal.SIGHUP)\n"
            "time.sleep(0.05)\n"
            "print('held', flush=True)\n"
            "sys.exit(cli.main(['check-config', '-c', '/nonexistent.yaml']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == -signal.SIGHUP, (done.stdout, done.stderr)
    assert done.stdout.split() == ["held"]


def test_a_command_under_nohup_keeps_sighup_ignored() -> None:
    """``nohup rebalancer demo``: SIGHUP ignored by the parent stays ignored after release (a
    closed terminal does not end the command; the one that came while held is dropped)."""
    code = ("import os, signal, sys, time\n"
            "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
            "from daemon import early_hangup\n"
            "early_hangup.hold()\n"
            "os.kill(os.getpid(), signal.SIGHUP)\n"
            "time.sleep(0.05)\n"
            "early_hangup.release()\n"
            "os.kill(os.getpid(), signal.SIGHUP)\n"
            "time.sleep(0.05)\n"
            "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20)
    assert (done.returncode, done.stdout.split()) == (0, ["True"]), done.stderr
