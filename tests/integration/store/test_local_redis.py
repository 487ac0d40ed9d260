"""The private redis-server never shares a port with another one (parallel test workers pick
free ports at the same moment): a port found taken is never used."""

from __future__ import annotations

import pytest

from daemon.errors import RebalancerError
from daemon.local_redis import LocalRedis


def test_a_taken_free_port_is_replaced_and_a_given_one_refused() -> None:
    with LocalRedis() as first:
        auto = LocalRedis()
        auto.port = first.port  # as if another worker took it between free_port() and bind
        try:
            auto.start()
            assert auto.port != first.port and auto.proc is not None
        finally:
            auto.stop()
        given = LocalRedis(port=first.port)
        with pytest.raises(RebalancerError, match=f"port {first.port} is served by another"):
            given.start()
        assert given.proc is None
        assert first.proc is not None and first.proc.poll() is None  # untouched
