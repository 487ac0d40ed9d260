"""The one typed field reader: what each leniency accepts, and how errors name the field."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from daemon.domain.fields import ARGUMENTS, FieldReader, Leniency
from daemon.domain.models import Side
from daemon.errors import InputError, ProtocolError, StateError

WIRE = FieldReader(ProtocolError, Leniency.WIRE)
DOC = FieldReader(InputError, Leniency.DOCUMENT)
STORED = FieldReader(StateError, Leniency.STORED)
RECORD = FieldReader(StateError, Leniency.STORED, quoted=True)


def error(call: Callable[[], object]) -> Exception:
    """The exception ``call`` raises (the test fails when it raises none)."""
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


def says(call: Callable[[], object], kind: type[Exception]) -> str:
    """The message of the ``kind`` error ``call`` raises."""
    exc = error(call)
    assert type(exc) is kind, repr(exc)
    return str(exc)


@pytest.mark.parametrize(("reader", "raw", "expected"), [
    (WIRE, "3.99E8", Decimal(399_000_000)), (WIRE, 0.1, Decimal("0.1")), (WIRE, 5, Decimal(5)),
    (DOC, Decimal("1.5"), Decimal("1.5")), (DOC, " 2 ", Decimal(2)),
    (STORED, "0.000324072", Decimal("0.000324072")),
])
def test_decimals_accepted(reader: FieldReader, raw: object, expected: Decimal) -> None:
    assert reader.decimal(raw, "x") == expected


@pytest.mark.parametrize(("reader", "raw", "message"), [
    (WIRE, "abc", "x: not a decimal number: 'abc'"),
    (WIRE, True, "x: expected a decimal, got boolean True"),
    (WIRE, None, "x: expected a decimal, got None"),
    (DOC, "NaN", "x: not a finite number: 'NaN'"),
    (DOC, [1], "x: expected a decimal, got list [1]"),
    (STORED, 1.5, "x: expected a decimal string, got 1.5"),
    (RECORD, 1.5, "x must be a string, got 1.5"),
    (RECORD, "Infinity", "x is not finite: 'Infinity'"),
])
def test_bad_decimals_are_named(reader: FieldReader, raw: object, message: str) -> None:
    exc = error(lambda: reader.decimal(raw, "x"))
    assert type(exc) is reader.error and str(exc) == message


def test_wire_nulls_and_defaults() -> None:
    assert WIRE.decimal("", "x", default=Decimal(0)) == 0 and WIRE.opt_text("", "x") is None
    assert WIRE.integer(None, "x", default=7) == 7 and WIRE.text(12345, "x") == "12345"
    assert STORED.opt_text("", "x") == ""  # what we stored is a value, not a null


@pytest.mark.parametrize(("reader", "raw", "ok"), [
    (WIRE, "1640804940000", True), (WIRE, 5.0, True), (WIRE, True, False),
    (DOC, Decimal("5"), True), (DOC, "3", False), (DOC, 1.5, False),
    (STORED, 5, True), (STORED, "5", False), (STORED, Decimal(5), False),
])
def test_integers_by_leniency(reader: FieldReader, raw: object, ok: bool) -> None:
    if ok:
        assert reader.integer(raw, "n") == int(raw)  # type: ignore[call-overload]
    else:
        exc = error(lambda: reader.integer(raw, "n"))
        assert type(exc) is reader.error
        assert str(exc).startswith(("n: expected an integer, got", "n must be an integer"))


def test_bounds_are_named() -> None:
    assert says(lambda: DOC.integer(19, "p", minimum=0, maximum=18), InputError) == \
        "p: must be between 0 and 18, got 19"
    assert says(lambda: DOC.integer(-1, "p", minimum=0), InputError) == \
        "p: must be >= 0, got -1"
    assert says(lambda: DOC.decimal("2", "f", maximum=Decimal(1)), InputError) == \
        "f: must be <= 1, got 2"
    assert says(lambda: DOC.decimal("0", "c", positive=True), InputError) == \
        "c: must be positive, got 0"


def test_objects_keys_and_naming() -> None:
    f = RECORD.fields({"side": "HOLD", "qty": None}, "bot:o")
    assert says(lambda: f.decimal("price"), StateError) == \
        "bot:o: field 'price' is missing"
    assert says(lambda: f.decimal("qty"), StateError) == \
        "bot:o: field 'qty' is null"
    assert says(lambda: f.enum("side", Side), StateError) == \
        "bot:o: field 'side' is 'HOLD', expected one of BUY, SELL"
    doc = DOC.fields({"rules": {"min_qty": "1"}}, "snapshot")
    rules = {"step": 1}
    assert says(lambda: DOC.fields(rules, "snapshot.rules", allowed=("min_qty",)), InputError) \
        == "snapshot.rules.step: unknown field"
    assert doc.fields("rules").decimal("min_qty") == 1
    assert says(lambda: doc.decimal("price"), InputError) == \
        "snapshot.price: missing"
    assert says(lambda: DOC.enum("x", "snapshot.side", Side), InputError) == \
        "snapshot.side: expected BUY or SELL, got 'x'"
    assert says(lambda: DOC.fields([], "snapshot"), InputError) == \
        "snapshot: expected a JSON object, got list"
    assert not DOC.fields({}, "s").flag("halted")


def test_arguments_raise_value_error() -> None:
    assert ARGUMENTS.decimal("0.5", "QTY") == Decimal("0.5")
    assert says(lambda: ARGUMENTS.decimal("lots", "QTY"), ValueError) == \
        "QTY: not a decimal number: 'lots'"
