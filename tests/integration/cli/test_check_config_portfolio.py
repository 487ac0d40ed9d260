"""``rebalancer check-config`` on a ``portfolio:`` section, through the real CLI: every bad
target in one report with its key and line (exit 2); a valid basket prints as it will run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli.test_check_config import REPO, cli, online, write


def test_every_portfolio_problem_with_its_key_and_line(tmp_path: Path) -> None:
    config = write(tmp_path, "symbol: BTCUSDT\nportfolio:\n  quote: USDT\n  targets:\n"
                             "    QRL: 0\n    BTC: 1.5\n    B-C: 0.1\n")
    done = cli("check-config", "-c", config)
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines() == [
        f"error: {config}: 3 problem(s)",
        "portfolio.targets.QRL: Input should be greater than 0 (got 0) (line 5)",
        "portfolio.targets.BTC: Input should be less than or equal to 1 (got '1.5') (line 6)",
        "portfolio.targets.B-C.[key]: Value error, asset 'B-C' is not an asset name (1 to 20 "
        "letters and digits, e.g. BTC) (got 'B-C') (line 7)",
    ]


def test_rules_between_the_portfolio_keys(tmp_path: Path) -> None:
    config = write(tmp_path, "symbol: BTCUSDT\nportfolio:\n  targets:\n    usdt: 0.2\n"
                             "    BTC: 0.3\n")
    done = cli("check-config", "-c", config)
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines()[1:] == [
        "portfolio.targets: USDT is the quote asset (portfolio.quote): its target is what the "
        "other weights leave, do not list it (line 3)",
        "symbol: give either the single pair (symbol) or portfolio, not both: with portfolio, "
        "portfolio.targets gives each asset's pair and weight (line 1)",
    ]
    twice = write(tmp_path, "portfolio:\n  targets: {QRL: 0.6, qrl: 0.5}\n", "twice.yaml")
    done = cli("check-config", "-c", twice)
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines()[1] == ("portfolio.targets: Value error, QRL is listed "
                                           "twice ('QRL' and 'qrl') (line 2)")


def test_a_valid_basket_prints_as_it_will_run(tmp_path: Path) -> None:
    config = write(tmp_path, "portfolio:\n  quote: usdt\n  targets: {qrl: 0.25, BTC: 0.25, "
                             "ETH: 0.1}\n")
    done = cli("check-config", "-c", config)
    assert done.returncode == 0, done.stderr
    assert ("portfolio:\n  quote: USDT\n  targets:\n    QRL: '0.25'\n    BTC: '0.25'\n"
            "    ETH: '0.1'\n") in done.stdout
    assert done.stdout.rstrip().endswith(f"# {config}: valid")


@pytest.fixture(scope="module")
def basket_rest() -> Iterator[str]:
    """``rebalancer sim --basket`` (QRLUSDT, BTCUSDT, ETHUSDT) as a real process."""
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "sim", "--basket", "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("REST http://127.0.0.1:"), line
        yield line.split()[1].removesuffix("/api/v3")
    finally:
        proc.terminate()
        proc.wait(10)


def test_online_names_every_pair_the_exchange_does_not_trade(
        tmp_path: Path, basket_rest: str, redis_url: str) -> None:
    """The daemon's own reading of exchangeInfo: each pair of the portfolio is listed and
    tradable, else the problem names its key."""
    targets = "portfolio:\n  targets: {QRL: 0.2, DOGE: 0.1, BTC: 0.2, XYZ: 0.1}\n"
    done = online(tmp_path, basket_rest, targets, redis_url=redis_url)
    assert done.returncode == 2, done.stdout
    assert done.stderr.splitlines()[1:] == [
        "portfolio.targets.DOGE: the pair DOGEUSDT does not exist on the exchange",
        "portfolio.targets.XYZ: the pair XYZUSDT does not exist on the exchange",
    ], done.stderr
    (tmp_path / "good").mkdir()
    good = online(tmp_path / "good", basket_rest, "portfolio:\n  targets: {QRL: 0.2, BTC: 0.2, "
                  "ETH: 0.2}\n", redis_url=redis_url)
    assert good.returncode == 0, good.stderr
    out = good.stdout.splitlines()
    for line in ("exchange: QRLUSDT tradable through the API (minimum order 1 USDT, minimum "
                 "quantity 0.01 QRL)",
                 "exchange: BTCUSDT tradable through the API (minimum order 1 USDT, minimum "
                 "quantity 0.000001 BTC)",
                 "exchange: ETHUSDT tradable through the API (minimum order 1 USDT, minimum "
                 "quantity 0.00001 ETH)"):
        assert line in out, out
