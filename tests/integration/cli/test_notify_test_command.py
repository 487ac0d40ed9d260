"""``rebalancer notify-test`` (README: Notifications): the README's line run as shown (its
/etc and /opt paths moved under a temporary directory), into a local receiver; the README's
config example is valid; exit 1 when nothing arrives, 2 for a missing secret or no URL."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from daemon.cli import main
from daemon.config import parse_settings
from tests.support.notify_receiver import receiver

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
TOKEN = "123456:AAF-secret-bot-token"


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Notifications\n")
    return text[start:text.index("\n## ", start + 1)]


def readme_test_command() -> list[str]:
    lines = [ln for ln in readme_section().splitlines() if " notify-test " in ln]
    assert len(lines) == 1, lines
    return shlex.split(lines[0].split("#")[0])


def test_the_readme_config_example_is_valid() -> None:
    block = re.search(r"```yaml\n(.*?)```", readme_section(), re.S)
    assert block is not None
    settings = parse_settings(yaml.safe_load(block.group(1)))
    assert settings.notify.urls[0] == "tgram://${TELEGRAM_TOKEN}/123456789"
    assert settings.notify.daily_summary_utc == "00:00"


async def test_the_readme_command_sends_a_test_message(tmp_path: Path) -> None:
    argv = readme_test_command()
    assert argv[:2] == ["sudo", "CREDENTIALS_DIRECTORY=/etc/rebalancer/credentials"]
    assert argv[2] == "/opt/rebalancer/.venv/bin/rebalancer"
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "TELEGRAM_TOKEN").write_text(TOKEN)  # as the README's printf | tee writes it
    async with receiver() as rec:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(yaml.safe_dump({"notify": {"urls": [
            rec.url(path="bot/${TELEGRAM_TOKEN}")]}}))
        args = [a.replace("/etc/rebalancer/config.yaml", str(cfg)) for a in argv[3:]]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon", *args, cwd=REPO,
            env={"CREDENTIALS_DIRECTORY": str(creds), "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert out.decode() == "delivered to 1 URL(s)\n"
    assert [r.title for r in rec.got] == ["rebalancer test (QRLUSDT)"]
    assert rec.got[0].path == f"/bot/{TOKEN}"
    assert TOKEN not in err.decode() + out.decode()
    assert "notifications to 1 URL(s): json://127.0.0.1" in err.decode()


def test_nothing_delivered_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"notify": {"urls": ["json://127.0.0.1:9/down"],
                                              "retries": 0, "events": ["order"]}}))
    assert main(["notify-test", "-c", str(cfg)]) == 1
    assert "NOT delivered" in capsys.readouterr().out


def test_a_missing_secret_or_no_url_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"notify": {"urls": ["json://127.0.0.1:9/${NO_SUCH_TOKEN}"]}}))
    assert main(["notify-test", "-c", str(cfg)]) == 2
    assert ("error: notify.urls[0]: ${NO_SUCH_TOKEN} is neither set in the environment nor a "
            "file in $CREDENTIALS_DIRECTORY") in capsys.readouterr().err
    cfg.write_text("mode: dry_run\n")
    assert main(["notify-test", "-c", str(cfg)]) == 2
    assert "notify.urls is empty: nothing to test" in capsys.readouterr().err
