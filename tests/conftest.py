"""Test layout (README: Development): unit/ (pure, seconds), integration/ (a real redis-server,
the simulator, short CLI processes), e2e/ (the daemon running: processes, crash and fault runs;
marked ``slow``). Shared fixtures live once in tests/support/fixtures.py; helpers in the
tests/support package."""

from __future__ import annotations

pytest_plugins = ["tests.support.fixtures"]

import pytest  # noqa: E402

# The longest tests (seconds on 2 cores), each put at the head of one worker's first share of
# the collection (pytest-xdist's worksteal hands each worker a contiguous slice to start
# with): the crash test alone is ~90 s, and started late it made the whole run ~45 s longer.
SLOW_FIRST = (
    "test_crash_recovery.py::test_sigkill_at_52_points",
    "test_readme_install.py::test_the_readme_install_section_as_written",
    "test_standby_takeover.py::test_standby_takes_over_after_sigkill",
    "test_redis_loss.py::test_books_gone_stop_trading_until_rebuilt",
    "test_redis_loss.py::test_a_power_cut_is_caught_up",
    "test_redis_loss.py::test_books_rolled_back_are_reconciled",
    "test_redis_outage_and_lease.py::test_outage_pauses_trading_and_recovers",
    "test_hostile_campaign_cmd.py::test_the_readme_hostile_campaign_command",
    "test_faults_e2e.py::test_faults_no_duplicates_nothing_lost",
    "test_reload_command.py::test_reload_reports_applied_restart_only_and_rejected",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = getattr(config.option, "numprocesses", None) or 0
    if not isinstance(workers, int) or workers < 2 or len(items) < 2 * workers:
        return
    rank = {key: i for i, key in enumerate(SLOW_FIRST)}

    def slow(item: pytest.Item) -> int | None:
        return next((r for key, r in rank.items() if key in item.nodeid), None)

    heads = sorted((i for i in items if slow(i) is not None), key=lambda i: slow(i) or 0)
    rest = [i for i in items if slow(i) is None]
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for n, item in enumerate(heads):  # the slowest first, one per worker, then round again
        shares[n % workers].append(item)
    size = len(items) // workers
    for w in range(workers):  # fill each share up to an even slice
        take = size - len(shares[w]) if w < workers - 1 else len(rest)
        shares[w] += rest[:max(take, 0)]
        rest = rest[max(take, 0):]
    items[:] = [item for share in shares for item in share]
