"""The shipped monitoring files and the README's Health and metrics section, against a running
engine (simulator, real Redis) over real HTTP: every rebalancer_* name the Grafana dashboard
and the alert rules use is on its /metrics (and the dashboard shows every metric); the README's
config, curl lines and commands run as shown (the address swapped for the test's); where
Prometheus is installed, its promtool checks the expressions and a real Prometheus scrapes the
engine with the README's scrape config and loads the alert rules."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from daemon.config import parse_settings
from daemon.sim import SimConfig, Simulator
from tests.support.e2e_harness import e2e_settings, running_engine, sim_creds, wait_for

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ALERTS = REPO / "monitoring" / "prometheus-alerts.yml"
DASHBOARD = REPO / "monitoring" / "grafana-dashboard.json"
NAME = re.compile(r"\brebalancer_[a-z0-9_]+")
DEFAULT = "127.0.0.1:9464"


def alert_exprs() -> list[str]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    for rule in rules:  # every rule can be routed and read
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule
        assert rule["annotations"]["summary"], rule
    return [str(rule["expr"]) for rule in rules]


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in doc["templating"]["list"]]
    for panel in doc["panels"]:
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
    return exprs


def exposed_names(text: str) -> tuple[set[str], set[str]]:
    """(every name a query may use, the metric families) of a /metrics text."""
    families: dict[str, str] = {}
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    for name, kind in families.items():
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    return names, set(families)


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


def engine_settings(sim: Simulator, redis_url: str) -> Any:
    return e2e_settings(sim, redis_url, health={"listen": "127.0.0.1:0"},
                        strategy={"initial_cost_basis": 0.05})


async def test_dashboard_and_alerts_use_only_metrics_the_engine_exposes(
        redis_url: str, tmp_path: Path) -> None:
    cfg = SimConfig(seed=31, speed=120.0, balances={"QRL": "20000", "USDT": "200"})
    async with Simulator(cfg) as sim, running_engine(engine_settings(sim, redis_url),
                                                     sim_creds(sim)) as engine:
        await wait_for(lambda: sum(engine.ledger.tally.fills.values()) > 0, 15, "a fill")
        assert engine.http is not None
        status, text = await fetch(engine.http.url + "/metrics")
    assert status == 200
    names, families = exposed_names(text)
    alerts, dashboard = alert_exprs(), dashboard_exprs()
    used_by_alerts = {n for e in alerts for n in NAME.findall(e)}
    used_by_dashboard = {n for e in dashboard for n in NAME.findall(e)}
    assert used_by_alerts and used_by_dashboard
    assert used_by_alerts - names == set()
    assert used_by_dashboard - names == set()
    shown = {re.sub(r"_(bucket|count|sum)$", "", n) for n in used_by_dashboard}
    assert families - shown == set(), "metrics the dashboard does not show"
    promtool = shutil.which("promtool")
    if promtool is None:  # the Debian package prometheus: without it PromQL is not parsed
        return
    assert run([promtool, "check", "rules", str(ALERTS)]).returncode == 0
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr{i}", "expr": grafana_to_promql(e)}
        for i, e in enumerate(dashboard)]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    checked = run([promtool, "check", "rules", str(path)])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def grafana_to_promql(expr: str) -> str:
    return (expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
            .replace("label_values(rebalancer_build_info, instance)", "rebalancer_build_info"))


def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, **kw)


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## Health and metrics\n", 1)[1].split("\n## ", 1)[0]


def blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


async def test_readme_health_and_metrics_section_runs_as_shown(redis_url: str,
                                                              tmp_path: Path) -> None:
    section = readme_section()
    config, scrape = (yaml.safe_load(b) for b in blocks(section, "yaml"))
    assert parse_settings(config).health.listen == DEFAULT
    curls, commands = (b.strip().splitlines() for b in blocks(section, "sh"))
    async with Simulator(SimConfig(seed=32, speed=60.0)) as sim, running_engine(
            engine_settings(sim, redis_url), sim_creds(sim)) as engine:
        await wait_for(lambda: engine.evaluations >= 1, 10, "a decision")
        assert engine.http is not None
        here = f"127.0.0.1:{engine.http.port}"
        outputs = [await shell(line.replace(DEFAULT, here)) for line in curls]
        price = float(engine.market.last_price or 0)
        await check_prometheus(scrape, here, tmp_path)
    health = json.loads(outputs[0])
    assert health["status"] == "ok" and health["phase"] == "trading", health
    name, value = outputs[1].split()
    assert name == "rebalancer_price" and float(value) > 0
    assert float(value) == pytest.approx(price, rel=0.05)
    promtool_line, install_line = commands
    if shutil.which("promtool"):
        assert run(["bash", "-c", promtool_line], cwd=REPO).returncode == 0
    # the install line, without sudo and into a scratch /etc/prometheus
    etc = tmp_path / "etc-prometheus"
    etc.mkdir()
    line = install_line.replace("sudo ", "").replace("/etc/prometheus/", f"{etc}/")
    assert run(["bash", "-c", line], cwd=REPO).returncode == 0
    assert (etc / "rebalancer-alerts.yml").read_bytes() == ALERTS.read_bytes()


async def shell(line: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", "set -o pipefail; " + line, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, (line, err)
    return out.decode().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def check_prometheus(scrape: dict[str, Any], target: str, tmp_path: Path) -> None:
    """The README's scrape config as a real Prometheus runs it (where it is installed): the
    target is up, its price is there, the alert rules are loaded."""
    job = scrape["scrape_configs"][0]
    assert job["job_name"] == "rebalancer"
    assert job["static_configs"][0]["targets"] == [DEFAULT]
    assert scrape["rule_files"] == ["/etc/prometheus/rebalancer-alerts.yml"]
    binary = shutil.which("prometheus")
    if binary is None:
        return  # checked as text above; a real scrape needs the Debian package prometheus
    job["static_configs"][0]["targets"] = [target]
    job["scrape_interval"] = "1s"  # the test's only change besides the paths
    scrape["rule_files"] = [str(ALERTS)]
    conf = tmp_path / "prometheus.yml"
    conf.write_text(yaml.safe_dump(scrape), encoding="utf-8")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        binary, f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        up = await poll(f"{api}/query?query=up{{job=%22rebalancer%22}}", 30)
        assert up[0]["value"][1] == "1", up
        price = await poll(f"{api}/query?query=rebalancer_price", 10)
        assert float(price[0]["value"][1]) > 0
        _, text = await fetch(f"{api}/rules")
        groups = json.loads(text)["data"]["groups"]
        assert len(groups[0]["rules"]) == len(alert_exprs())
        assert all(rule["health"] != "err" for rule in groups[0]["rules"])
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def poll(url: str, limit_s: float) -> list[dict[str, Any]]:
    """A Prometheus instant query's result, once it has one."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            status, text = await fetch(url)
            if status == 200 and (result := json.loads(text)["data"]["result"]):
                return list(result)
        except aiohttp.ClientError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise AssertionError(f"no result from {url} within {limit_s} s")
        await asyncio.sleep(0.25)
