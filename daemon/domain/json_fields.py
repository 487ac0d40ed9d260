"""Typed, error-naming access to decoded JSON objects read back from Redis.

Every failure is a StateError naming where the object came from (the Redis key, and the path
inside it) and the field that is wrong. Pure: no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from daemon.errors import StateError


class Reader:
    """Typed field access on a decoded JSON object; errors name ``where`` and the field."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise StateError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where

    def raw(self, name: str, optional: bool = False) -> Any:
        if name not in self.data:
            if optional:
                return None
            raise StateError(f"{self.where}: field {name!r} is missing")
        value = self.data[name]
        if value is None and not optional:
            raise StateError(f"{self.where}: field {name!r} is null")
        return value

    def text(self, name: str, optional: bool = False) -> Any:
        value = self.raw(name, optional)
        if value is not None and not isinstance(value, str):
            raise StateError(f"{self.where}: field {name!r} must be a string, got {value!r}")
        return value

    def integer(self, name: str, optional: bool = False) -> Any:
        value = self.raw(name, optional)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise StateError(f"{self.where}: field {name!r} must be an integer, got {value!r}")
        return value

    def flag(self, name: str) -> bool:
        value = self.raw(name, True)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise StateError(f"{self.where}: field {name!r} must be true/false, got {value!r}")
        return value

    def decimal(self, name: str, optional: bool = False) -> Any:
        value = self.text(name, optional)
        if value is None:
            return None
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise StateError(f"{self.where}: field {name!r} is not a decimal: {value!r}") from None
        if not result.is_finite():
            raise StateError(f"{self.where}: field {name!r} is not finite: {value!r}")
        return result

    def enum(self, name: str, kind: type[StrEnum]) -> Any:
        value = self.text(name)
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise StateError(
                f"{self.where}: field {name!r} is {value!r}, expected one of {allowed}") from None
