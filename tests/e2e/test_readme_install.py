"""The README's "Install as a systemd service" replayed step by step, without systemd (issue 16).

Both code blocks (one service, then an instance of the template) are read from README.md, so
this breaks when the README changes. /opt/rebalancer and /etc/rebalancer move under a
temporary directory, ``sudo``/``sudo -u rebalancer`` and ``install -o/-g`` are dropped, the
repository URL is this checkout. Skipped, as they need root or systemd: apt-get, useradd,
systemctl, journalctl; ``sudoedit`` is replaced by setting ``mode: live``; ``cp systemd/X
/etc/systemd/system/`` checks that the unit exists and that the paths it runs and reads are the
ones the README installed. Everything else runs for real: the clone, ``scripts/bootstrap
--prod`` (a new virtualenv, a plain install from the clone; about 25 s with a warm pip cache),
the credential files, and check-config as the README runs it.

Users: run as root with ``setpriv`` (CI, a VPS), the owners and modes stay as written, with
the ``rebalancer`` group a numeric group no one on this machine has (nothing is added to
/etc/passwd or /etc/group), and ``sudo -u rebalancer`` becomes ``setpriv`` to a user of that
group: the service's user reads the config but not the keys, another user reads neither.
Elsewhere the ownership part is skipped (said in the output).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Install as a systemd service (real MEXC)\n"
SKIPPED = ("apt-get ", "useradd ", "systemctl ", "journalctl ")
SERVICE_ID = 64_917  # uid and gid of the stand-in "rebalancer" user: in no /etc/passwd
OTHER_ID = 64_918  # a user who is not in the group
AS_ROOT = os.geteuid() == 0 and shutil.which("setpriv") is not None
# What sudo runs the README's lines with (Debian's secure_path): the system python3 that
# apt-get installed, not a python of root's own (pyenv under /root, which no other user reaches)
SUDO_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def as_user(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder every user can traverse (pytest's own is root's only), removed after."""
    path = Path(tempfile.mkdtemp(prefix="readme-install-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def install_blocks() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = re.compile(r"\n##+ ").search(text, start + 1)
    assert end is not None
    section = text[start:end.start()]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the install section has its service and its template block"
    return [[ln for ln in block.splitlines() if ln.strip()] for block in blocks]


def localize(line: str, root: Path) -> str:
    """The README's line for this machine: comment off, paths moved, no sudo, no owners."""
    line = re.sub(r"\s+#\s.*$", "", line)
    line = line.replace("<URL of your copy of this repository>", str(REPO))
    line = line.replace("/opt/rebalancer", f"{root}/opt/rebalancer")
    line = line.replace("/etc/rebalancer", f"{root}/etc/rebalancer")
    line = re.sub(r"\bsudo -u rebalancer ", "", line)
    line = re.sub(r"\bsudo ", "", line)
    if AS_ROOT:  # the owners as written, the group a stand-in
        return line.replace(" -g rebalancer", f" -g {SERVICE_ID}")
    return re.sub(r" -o root -g rebalancer", "", line)


def unit_paths(unit: Path, instance: str | None) -> list[str]:
    """The files a unit runs and reads: ExecStart's program and config, the credentials."""
    paths = []
    for raw in unit.read_text().splitlines():
        key, _, value = raw.partition("=")
        if key == "ExecStart":
            words = value.split()
            paths += [words[0], words[words.index("-c") + 1]]
        elif key == "LoadCredential":
            paths.append(value.partition(":")[2])
        elif key == "WorkingDirectory":
            paths.append(value)
    return [p.replace("%i", instance) if instance else p for p in paths]


def check_unit(line: str, cwd: Path, root: Path) -> None:
    source = cwd / shlex.split(line)[1]
    assert source.is_file(), f"{line}: {source} is not in the checkout"
    instance = "qrl" if "@" in source.name else None
    for path in unit_paths(source, instance):
        local = Path(path.replace("/opt/rebalancer", f"{root}/opt/rebalancer")
                     .replace("/etc/rebalancer", f"{root}/etc/rebalancer"))
        assert local.exists(), f"{source.name} uses {path}, which the README did not install"


def replay(lines: list[str], root: Path, env: dict[str, str],
           cwd: Path) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    checks = []
    for readme_line in lines:
        line = localize(readme_line, root)
        if any(word in line for word in SKIPPED):
            continue
        if line.startswith("sudoedit "):  # the operator's edit: this one goes live
            config = Path(shlex.split(line)[1])
            config.write_text(config.read_text().replace("mode: dry_run", "mode: live"))
            continue
        if line.startswith("cd ") and " && " in line:
            target, _, line = line[3:].partition(" && ")
            cwd = Path(target)
        if re.match(r"cp systemd/\S+ /etc/systemd/system/$", line):
            check_unit(line, cwd, root)
            continue
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{readme_line}\n{done.stdout}\n{done.stderr}"
        if "scripts/bootstrap" in line:  # a fresh install says nothing of deprecated metadata
            assert "BuildBackendWarning" not in done.stderr + done.stdout, done.stderr
        if " check-config " in line:
            checks.append(done)
    return cwd, checks


def test_the_readme_install_section_as_written(root: Path) -> None:
    tmp_path = root
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MEXC_API_KEY", "MEXC_API_SECRET", "CREDENTIALS_DIRECTORY",
                        "VIRTUAL_ENV", "PYTHONPATH")}
    if AS_ROOT:
        env["PATH"] = SUDO_PATH
    service, template = install_blocks()
    cwd, checks = replay(service, tmp_path, env, tmp_path)
    opt, etc = tmp_path / "opt/rebalancer", tmp_path / "etc/rebalancer"
    assert cwd == opt
    # a plain install, no dev extras: the daemon runs from site-packages, without pytest
    venv = opt / ".venv"
    probe = subprocess.run([str(venv / "bin/python"), "-c", "import daemon, importlib.util; "
                            "print(daemon.__file__, importlib.util.find_spec('pytest'))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "site-packages/daemon/__init__.py None" in probe.stdout
    assert (etc / "credentials/MEXC_API_KEY").read_text() == "YOUR_KEY"
    assert (etc / "credentials").stat().st_mode & 0o777 == 0o700
    assert (etc / "credentials/MEXC_API_SECRET").stat().st_mode & 0o777 == 0o600
    assert "mode: live" in (etc / "config.yaml").read_text()
    [check] = checks
    assert f"keys: found in {etc}/credentials" in check.stdout.splitlines()
    assert check.stdout.splitlines()[-1] == f"# {etc}/config.yaml: valid"
    assert "YOUR_SECRET" not in check.stdout
    check_as_users(venv, etc, opt, env)

    _, checks = replay(template, tmp_path, env, opt)
    [check] = checks
    assert f"keys: found in {etc}/credentials/qrl" in check.stdout.splitlines()
    assert (etc / "credentials/qrl/MEXC_API_SECRET").stat().st_mode & 0o777 == 0o600
    print(f"README install replayed in {time.monotonic() - started:.1f}s")


def check_as_users(venv: Path, etc: Path, opt: Path, env: dict[str, str]) -> None:
    """The daemon's user, as the README shows it: the config checked, not the keys it cannot
    read; as root: the keys' folder refused to it, the config to a user outside the group."""
    command = [str(venv / "bin/rebalancer"), "check-config", "-c", str(etc / "config.yaml")]
    service = as_user(SERVICE_ID) if AS_ROOT else []
    done = subprocess.run(service + command, cwd=opt, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert any(ln.startswith("keys: not checked (") for ln in done.stdout.splitlines())
    if not AS_ROOT:
        print("not root or no setpriv: owners and modes not checked against other users")
        return
    assert (etc.stat().st_gid, etc.stat().st_mode & 0o777) == (SERVICE_ID, 0o750)
    keys = subprocess.run(service + command + ["--credentials-dir", str(etc / "credentials")],
                          cwd=opt, env=env, capture_output=True, text=True, check=False)
    assert keys.returncode == 2, keys.stdout + keys.stderr
    assert f"permission denied for user {SERVICE_ID}" in keys.stderr, keys.stderr
    assert "run check-config with sudo" in keys.stderr
    other = subprocess.run(as_user(OTHER_ID) + command, cwd=opt, env=env, capture_output=True,
                           text=True, check=False)
    assert other.returncode == 2, other.stdout + other.stderr
    assert other.stderr.count("\n") == 1 and "Permission denied" in other.stderr, other.stderr


def test_the_readme_user_check_is_the_one_replayed() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"`sudo -u\s+rebalancer\s+(\S+) check-config -c (\S+)`", text)
    assert shown == [("/opt/rebalancer/.venv/bin/rebalancer", "/etc/rebalancer/config.yaml")]
