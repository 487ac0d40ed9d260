"""Rendering a page in a real headless Chromium (Debian's ``chromium``, which scripts/bootstrap
installs): one run takes the screenshot and dumps the DOM after the page's scripts ran, so a
test can check both what a person would see and which elements the charting library drew."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

WINDOW = (1400, 2400)


def chromium_binary() -> str:
    """The Chromium to run; skipped when there is none (failed under CI, which has one)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium missing: scripts/bootstrap installs it")
    pytest.skip("no chromium here (scripts/bootstrap installs it)")


@dataclass(frozen=True, slots=True)
class Rendered:
    png: bytes
    dom: str


def render(page: Path, work: Path, *, timeout_s: float = 60) -> Rendered:
    """Screenshot and DOM of ``page`` after its scripts ran; no host name resolves, so a page
    that needs the network shows it."""
    shot = work / "screenshot.png"
    cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--hide-scrollbars",
           "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: no network at all
           f"--user-data-dir={work / 'chromium-profile'}",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=10000",
           f"--screenshot={shot}", "--dump-dom", page.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    return Rendered(shot.read_bytes(), done.stdout.decode("utf-8", errors="replace"))


class ChartCensus(HTMLParser):
    """Per element id listed in ``ids``: how many plotly SVG roots (``main-svg``) and drawn
    traces (``trace scatter`` groups, and their line paths with their ``d`` lengths) it
    holds."""

    def __init__(self, ids: tuple[str, ...]) -> None:
        super().__init__()
        self.ids = ids
        self.svgs = dict.fromkeys(ids, 0)
        self.traces = dict.fromkeys(ids, 0)
        self.line_lengths: dict[str, list[int]] = {i: [] for i in ids}
        self._stack: list[str | None] = []  # chart id each open element belongs to

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        owner = self._stack[-1] if self._stack else None
        if a.get("id") in self.ids:
            owner = a["id"]
        classes = (a.get("class") or "").split()
        if owner is not None:
            if "main-svg" in classes:
                self.svgs[owner] += 1
            if "trace" in classes and "scatter" in classes:
                self.traces[owner] += 1
            if "js-line" in classes:
                self.line_lengths[owner].append(len(a.get("d") or ""))
        if tag not in _VOID:
            self._stack.append(owner)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self._stack:
            self._stack.pop()


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "source", "track", "wbr"})


def census(dom: str, ids: tuple[str, ...]) -> ChartCensus:
    parser = ChartCensus(ids)
    parser.feed(dom)
    parser.close()
    return parser
