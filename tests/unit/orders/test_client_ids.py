"""Deterministic client order ids: format, limits, parse-back."""

from __future__ import annotations

import pytest

from daemon.domain.client_ids import (
    ClientOrderId,
    cycle_id_for,
    is_ours,
    is_valid_for_venue,
    make_client_order_id,
    parse_client_order_id,
)
from daemon.errors import InputError


def test_cycle_id_known_answer() -> None:
    assert cycle_id_for(1_763_700_000_000) == "t627mo"
    assert cycle_id_for(1_763_700_000_999) == "t627mo"  # same second, same cycle
    assert cycle_id_for(0) == "0"
    assert cycle_id_for(35_000) == "z"


def test_same_cycle_and_attempt_give_the_same_id() -> None:
    a = make_client_order_id("rb", cycle_id_for(1_763_700_000_000), 0)
    b = make_client_order_id("rb", cycle_id_for(1_763_700_000_000), 0)
    assert a == b == "rb-t627mo-0"
    assert make_client_order_id("rb", "t627mo", 1) == "rb-t627mo-1"


def test_longest_id_fits_the_venue_rule() -> None:
    text = make_client_order_id("A" * 8, "z" * 18, 999)
    assert len(text) == 31
    assert is_valid_for_venue(text)
    assert parse_client_order_id(text) == ClientOrderId("A" * 8, "z" * 18, 999)


@pytest.mark.parametrize(
    ("prefix", "cycle", "attempt", "named"),
    [
        ("", "abc", 0, "prefix"),
        ("toolongpre", "abc", 0, "prefix"),
        ("r-b", "abc", 0, "prefix"),
        ("rb", "", 0, "cycle_id"),
        ("rb", "a" * 19, 0, "cycle_id"),
        ("rb", "a_b", 0, "cycle_id"),
        ("rb", "abc", -1, "attempt"),
        ("rb", "abc", 1000, "attempt"),
        ("rb", "abc", True, "attempt"),
    ],
)
def test_invalid_parts_are_named(prefix: str, cycle: str, attempt: int, named: str) -> None:
    with pytest.raises(InputError, match=named):
        make_client_order_id(prefix, cycle, attempt)


@pytest.mark.parametrize("text", ["rb-abc", "rb-abc-01", "rb-abc-1000", "x-rb-abc-1", "", "rb--1"])
def test_parse_rejects_foreign_forms(text: str) -> None:
    with pytest.raises(InputError, match="expected '<prefix>-<cycle_id>-<attempt>'"):
        parse_client_order_id(text)


def test_is_ours() -> None:
    assert is_ours("rb-t627mo-3", "rb")
    assert not is_ours("rb-t627mo-3", "rc")
    assert not is_ours("rbx-t627mo-3", "rb")
    assert not is_ours("myOrder1", "rb")
    assert not is_ours(None, "rb")


def test_cycle_id_rejects_negative_and_non_int() -> None:
    with pytest.raises(InputError, match="slot_start_ms"):
        cycle_id_for(-1)
    with pytest.raises(InputError, match="slot_start_ms"):
        cycle_id_for(1.5)  # type: ignore[arg-type]
