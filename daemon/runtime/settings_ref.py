"""The one holder of the current settings. Every part reads ``ref.current`` when it needs a
value; a reload (SIGHUP) replaces ``current`` once, between evaluations, and every part sees
the new settings from then on (nothing is copied into several objects)."""

from __future__ import annotations

from daemon.config import Settings


class SettingsRef:
    __slots__ = ("current",)

    def __init__(self, settings: Settings) -> None:
        self.current = settings
