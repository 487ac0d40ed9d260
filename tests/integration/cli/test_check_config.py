"""``rebalancer check-config`` through the real CLI (issue 16): every problem the daemon would
die on at start is reported, all at once, with its key and line; a live config without keys in
the environment is checked as far as it can be and says the keys were not; ``--credentials-dir``
checks the LoadCredential files as the daemon reads them, never printing a secret."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.local_redis import LocalRedis

REPO = Path(__file__).resolve().parents[3]
KEY, SECRET = "mx0vglTESTKEY0000001", "0123456789abcdef-test-secret-value"


def cli(*args: str, env_extra: dict[str, str] | None = None,
        drop_caps: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MEXC_API_KEY", "MEXC_API_SECRET", "CREDENTIALS_DIRECTORY")}
    env.update(env_extra or {})
    prefix = ["setpriv", "--bounding-set=-all"] if drop_caps else []
    return subprocess.run([*prefix, sys.executable, "-m", "daemon", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def credentials(tmp_path: Path, key: str = KEY, secret: str = SECRET, mode: int = 0o600) -> Path:
    d = tmp_path / "credentials"
    d.mkdir(mode=0o700)
    for name, value in (("MEXC_API_KEY", key), ("MEXC_API_SECRET", secret)):
        (d / name).write_text(value)
        (d / name).chmod(mode)
    return d


def test_every_problem_at_once_with_key_and_line(tmp_path: Path) -> None:
    config = write(tmp_path, "mode: live\nstrategy:\n  ratio: 2\n  ma_short: 30\nrisk:\n"
                   "  min_notional: 500\n  max_order_notional: 5\nlog:\n  rotation: banana\n")
    done = cli("check-config", "-c", config)
    assert done.returncode == 2, done.stdout
    lines = done.stderr.splitlines()
    assert lines[0] == f"error: {config}: 4 problem(s)"
    assert lines[1] == "strategy.ratio: Input should be less than or equal to 1 (got 2) (line 3)"
    assert lines[2].startswith("log.rotation: Value error, not a size")
    assert lines[2].endswith("(got 'banana') (line 9)")
    assert lines[3] == ("strategy.ma_short: ma_short (30) must be smaller than ma_long (25) "
                        "(line 4)")
    assert lines[4] == ("risk.min_notional: min_notional (500) is above max_order_notional "
                        "(5): no order can ever be placed (line 6)")
    assert "Traceback" not in done.stderr


def test_run_refuses_a_bad_rotation_in_one_line(tmp_path: Path) -> None:
    # before issue 16 the config was "valid" and run died in logger.add with a traceback
    config = write(tmp_path, "log:\n  file: " + str(tmp_path / "d.log") + "\n"
                   "  rotation: banana\n")
    done = cli("run", "-c", config)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "log.rotation: Value error, not a size" in done.stderr


def test_a_log_file_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    config = write(tmp_path, f"log:\n  file: {tmp_path / 'afile' / 'daemon.log'}\n")
    checked = cli("check-config", "-c", config)
    assert checked.returncode == 2
    assert f"log.file: {tmp_path / 'afile'} is not a directory" in checked.stderr
    ran = cli("run", "-c", config)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert ran.stderr.startswith("error: log.file: cannot write ")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_a_log_file_where_no_file_can_be_made_is_refused_as_run_refuses_it(
        tmp_path: Path) -> None:
    """/proc/x/y.log passes every test of the path's form, even for root, yet the daemon
    cannot open it: check-config tries (a file made and removed in the deepest folder)."""
    config = write(tmp_path, "log:\n  file: /proc/nope/daemon.log\n")
    checked = cli("check-config", "-c", config)
    assert checked.returncode == 2, checked.stdout
    assert checked.stderr.splitlines()[1].startswith(
        "log.file: cannot write /proc/nope/daemon.log (No such file or directory making a file "
        "in /proc, as user "), checked.stderr
    ran = cli("run", "-c", config)
    assert ran.returncode == 2 and ran.stderr.startswith("error: log.file: cannot write ")
    kept = tmp_path / "kept.log"
    kept.write_text("earlier lines\n")
    fine = cli("check-config", "-c", write(tmp_path, f"log:\n  file: {kept}\n"))
    assert fine.returncode == 0, fine.stderr
    assert kept.read_text() == "earlier lines\n"  # opened for appending: left as it was
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".check-config")] == []


def test_the_log_file_and_notify_secrets_join_the_report_when_other_keys_are_bad(
        tmp_path: Path) -> None:
    """Every problem at once: a bad key elsewhere does not hide the log file and the
    notification secrets, which are checked on their own sections."""
    (tmp_path / "afile").write_text("")
    creds = tmp_path / "creds"
    creds.mkdir(mode=0o700)
    config = write(tmp_path, "strategy:\n  ratio: 7\nlog:\n  file: "
                   f"{tmp_path / 'afile' / 'x.log'}\nnotify:\n"
                   "  urls: ['json://localhost/${NOPE}']\n")
    done = cli("check-config", "-c", config, "--credentials-dir", str(creds))
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines() == [
        f"error: {config}: 4 problem(s)",
        "strategy.ratio: Input should be less than or equal to 1 (got 7) (line 2)",
        f"credentials: neither MEXC_API_KEY nor MEXC_API_SECRET is a non-empty file in {creds}",
        f"notify.urls[0]: ${{NOPE}} is neither set in the environment nor a file in {creds}",
        f"log.file: {tmp_path / 'afile'} is not a directory"], done.stderr


def test_live_without_keys_is_checked_except_the_keys(tmp_path: Path) -> None:
    config = write(tmp_path, "mode: live\n")
    done = cli("check-config", "-c", config)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[-2] == ("keys: not checked (no MEXC_API_KEY/MEXC_API_SECRET in the environment "
                       "or a credentials directory; pass --credentials-dir DIR to check them)")
    assert out[-1] == f"# {config}: valid"
    ran = cli("run", "-c", config)
    assert ran.returncode == 2 and "mode: live needs MEXC_API_KEY" in ran.stderr


def test_keys_checked_in_the_credentials_dir(tmp_path: Path) -> None:
    config = write(tmp_path, "mode: live\n")
    creds = credentials(tmp_path)
    # keys in the environment are not what is checked: the files are
    done = cli("check-config", "-c", config, "--credentials-dir", str(creds),
               env_extra={"MEXC_API_KEY": "other-key-0000", "MEXC_API_SECRET": "other-secret"})
    assert done.returncode == 0, done.stderr
    assert f"keys: found in {creds}" in done.stdout.splitlines()
    assert "api_key: mx0v********" in done.stdout
    assert SECRET not in done.stdout + done.stderr and KEY not in done.stdout + done.stderr


@pytest.mark.parametrize(("key", "secret", "mode", "expected"), [
    (KEY, "", 0o600, "MEXC_API_SECRET is missing (the other one is set)"),
    (KEY, "short", 0o600, "MEXC_API_SECRET does not look like a MEXC key"),
    (KEY, "two words in the secret", 0o600, "MEXC_API_SECRET does not look like a MEXC key"),
    (KEY, KEY, 0o600, "MEXC_API_KEY and MEXC_API_SECRET are the same value"),
    (KEY, SECRET, 0o644, "MEXC_API_KEY is readable or writable by every user (mode 0644): "
     "chmod 0600 it"),
])
def test_bad_key_files(tmp_path: Path, key: str, secret: str, mode: int, expected: str) -> None:
    config = write(tmp_path, "mode: live\nstrategy:\n  ma_short: 40\n")
    creds = credentials(tmp_path, key, secret, mode)
    done = cli("check-config", "-c", config, "--credentials-dir", str(creds))
    assert done.returncode == 2
    assert expected in done.stderr
    # reported together with the config's own problems
    assert "strategy.ma_short: ma_short (40) must be smaller than ma_long (25)" in done.stderr
    assert SECRET not in done.stderr and KEY not in done.stderr.replace(
        "MEXC_API_KEY", "")


def test_no_key_files_in_the_dir(tmp_path: Path) -> None:
    creds = tmp_path / "empty"
    creds.mkdir()
    done = cli("check-config", "-c", write(tmp_path, "mode: live\n"),
               "--credentials-dir", str(creds))
    assert done.returncode == 2
    assert (f"credentials: neither MEXC_API_KEY nor MEXC_API_SECRET is a non-empty file in "
            f"{creds}") in done.stderr
    missing = cli("check-config", "-c", write(tmp_path, "mode: live\n"),
                  "--credentials-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr == f"error: --credentials-dir {tmp_path / 'nope'}: no such directory\n"


def test_an_unreadable_credentials_dir_says_to_use_sudo(tmp_path: Path) -> None:
    config = write(tmp_path, "mode: live\n")
    creds = credentials(tmp_path)
    creds.chmod(0)
    drop = False
    if os.geteuid() == 0:  # root reads everything: check without its capabilities
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        drop = True
    try:
        done = cli("check-config", "-c", config, "--credentials-dir", str(creds),
                   drop_caps=drop)
    finally:
        creds.chmod(0o700)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: --credentials-dir {creds}: permission denied for "
                                  "user ")
    assert "run check-config with sudo" in done.stderr and "Traceback" not in done.stderr


def test_notify_secrets_checked_with_the_credentials_dir(tmp_path: Path) -> None:
    config = write(tmp_path, "notify:\n  urls: ['tgram://${TG_TOKEN}/12345']\n")
    unchecked = cli("check-config", "-c", config)
    assert unchecked.returncode == 0, unchecked.stderr
    assert ("notify secrets: not checked (TG_TOKEN not in the environment; pass "
            "--credentials-dir DIR to check them)") in unchecked.stdout.splitlines()
    creds = credentials(tmp_path)
    done = cli("check-config", "-c", config, "--credentials-dir", str(creds))
    assert done.returncode == 2
    assert (f"notify.urls[0]: ${{TG_TOKEN}} is neither set in the environment nor a file in "
            f"{creds}") in done.stderr
    (creds / "TG_TOKEN").write_text("123456:AAF-secret-bot-token")
    assert cli("check-config", "-c", config, "--credentials-dir", str(creds)).returncode == 0
    ok = cli("check-config", "-c", config, "--credentials-dir", str(creds))
    assert "notify: 1 URL(s) understood, secrets found" in ok.stdout.splitlines()
    assert "123456:AAF" not in ok.stdout + ok.stderr


def test_a_notify_url_apprise_refuses(tmp_path: Path) -> None:
    # the daemon refuses it at start (notify.urls[i]: Apprise does not understand it)
    config = write(tmp_path, "notify:\n  urls: ['tgram://123456:AAF-token/1', "
                   "'nosuchscheme://x/y']\n")
    done = cli("check-config", "-c", config)
    assert done.returncode == 2
    assert "notify.urls[1]: Apprise does not understand it: 'nosuchscheme://x/y'" in done.stderr


SIM_KEY, SIM_SECRET = "mx0vglDEMOKEY0000000", "demo-secret-not-real-0000000000000"


@pytest.fixture(scope="module")
def sim_rest() -> Iterator[str]:
    """``rebalancer sim`` as a real process; its REST address."""
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "sim", "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("REST http://127.0.0.1:"), line
        yield line.split()[1].removesuffix("/api/v3")  # rest_url is the host part
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def volatile_redis() -> Iterator[LocalRedis]:
    """A redis-server as Debian ships it: no append-only file."""
    with LocalRedis(extra_args=("--appendonly", "no")) as server:
        yield server


def online(tmp_path: Path, rest_url: str, extra: str = "", secret: str = SIM_SECRET, *,
           redis_url: str) -> subprocess.CompletedProcess[str]:
    config = write(tmp_path, f"mode: live\nexchange:\n  rest_url: {rest_url}\n"
                   f"redis:\n  url: {redis_url}\n{extra}")
    creds = credentials(tmp_path, SIM_KEY, secret)
    return cli("check-config", "-c", config, "--credentials-dir", str(creds), "--online")


def test_online_against_the_simulator(tmp_path: Path, sim_rest: str, redis_url: str) -> None:
    done = online(tmp_path, sim_rest, redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert any(line.startswith(f"redis: Redis {redis_url}: AOF on (appendfsync everysec)")
               for line in out), out
    assert "exchange: QRLUSDT tradable through the API (minimum order 1 USDT, minimum " \
           "quantity 0.01 QRL)" in out
    assert "exchange keys: accepted (signed account read)" in out


@pytest.mark.parametrize(("extra", "secret", "expected"), [
    ("", "not-the-simulators-secret-000", "credentials: the exchange refused the keys: "),
    ("symbol: NOPEUSDT\n", SIM_SECRET, "symbol: NOPEUSDT: "),
    ("risk:\n  min_notional: 0\n  max_order_notional: 0.5\n", SIM_SECRET,
     "risk.max_order_notional: 0.5 is below the smallest order allowed (1 USDT"),
])
def test_online_refusals(tmp_path: Path, sim_rest: str, extra: str, secret: str,
                         expected: str, redis_url: str) -> None:
    done = online(tmp_path, sim_rest, extra, secret, redis_url=redis_url)
    assert done.returncode == 2, done.stdout
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_online_refuses_a_redis_the_live_daemon_refuses(
        tmp_path: Path, sim_rest: str, volatile_redis: LocalRedis) -> None:
    """Debian's redis-server keeps no append-only file: run refuses it in mode live, and so
    does check-config --online (the daemon's own judgement, read only)."""
    done = online(tmp_path, sim_rest, redis_url=volatile_redis.url)
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines()[1].startswith(
        f"redis: Redis {volatile_redis.url}: AOF off"), done.stderr
    assert "mode: live refuses it" in done.stderr
    ok = write(tmp_path, f"mode: live\nexchange:\n  rest_url: {sim_rest}\nredis:\n  url: "
               f"{volatile_redis.url}\n  allow_volatile: true\n")
    creds = tmp_path / "credentials"  # written by online() above
    done = cli("check-config", "-c", ok, "--credentials-dir", str(creds), "--online")
    assert done.returncode == 0, done.stderr
    assert "running live anyway" in done.stdout


def test_online_with_redis_down(tmp_path: Path, sim_rest: str) -> None:
    done = online(tmp_path, sim_rest, redis_url="redis://127.0.0.1:1/0")
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("error: --online: Redis at redis://127.0.0.1:1/0 could not "
                                  "be asked: "), done.stderr


def test_online_with_the_exchange_unreachable(tmp_path: Path, redis_url: str) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = online(tmp_path, f"http://127.0.0.1:{port}", redis_url=redis_url)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: --online: http://127.0.0.1:{port} could not be "
                                  "asked: ")


def test_credentials_dir_without_keys_is_fine_in_dry_run_and_lower_case_names_are_checked(
        tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    dry = cli("check-config", "-c", write(tmp_path, "mode: dry_run\n"), "--credentials-dir",
              str(empty))
    assert dry.returncode == 0, dry.stderr
    assert f"keys: none in {empty} (mode dry_run does not need them)" in dry.stdout
    lower = tmp_path / "lower"
    lower.mkdir(mode=0o700)
    (lower / "mexc_api_key").write_text(SIM_KEY)
    (lower / "mexc_api_secret").write_text(SIM_SECRET)
    (lower / "mexc_api_secret").chmod(0o644)
    done = cli("check-config", "-c", write(tmp_path, "mode: live\n"), "--credentials-dir",
               str(lower))
    assert done.returncode == 2, done.stdout
    assert (f"credentials: {lower / 'mexc_api_secret'} is readable or writable by every user "
            "(mode 0644): chmod 0600 it") in done.stderr, done.stderr
