"""Test layout (README: Development): unit/ (pure, seconds), integration/ (a real redis-server,
the simulator, short CLI processes), e2e/ (the daemon running: processes, crash and fault runs;
marked ``slow``). Shared fixtures live once in tests/support/fixtures.py; helpers in the
tests/support package."""

from __future__ import annotations

pytest_plugins = ["tests.support.fixtures"]
