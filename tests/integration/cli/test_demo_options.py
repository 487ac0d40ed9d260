"""``rebalancer demo`` refuses bad options before it starts anything: exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", "demo", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", ["daemon.log", "state-summary.json"])
def test_a_previous_demos_files_are_never_overwritten(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("the last demo's\n")
    done = demo("--workdir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"error: demo: --workdir {tmp_path} holds a previous demo's {name}; "
                           "give another folder or remove them\n")
    assert (tmp_path / name).read_text() == "the last demo's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_workdir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    done = demo("--workdir", str(tmp_path / "f"))
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: demo: --workdir {tmp_path / 'f'}: File exists\n"


@pytest.mark.parametrize(("flag", "value", "shown"), [
    ("--speed", "0", "0 and 20"), ("--speed", "nan", "nan and 20"),
    ("--speed", "inf", "inf and 20"), ("--interval-s", "0", "60 and 0")])
def test_speed_and_interval_must_be_positive(tmp_path: Path, flag: str, value: str,
                                             shown: str) -> None:
    done = demo(flag, value, "--workdir", str(tmp_path / "w"))
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("error: demo: --speed and --interval-s must be positive (finite) "
                           f"numbers, got {shown}\n")
    assert not (tmp_path / "w").exists()  # refused before anything was started or written
