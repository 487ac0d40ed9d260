"""The progress bar of long runs: one line redrawn in place, once per percent, ended by a
newline when done (the command shows it only on a terminal and never with --json)."""

from __future__ import annotations

import io

from daemon.commands.backtest import progress_bar


def test_bar_is_redrawn_once_per_percent_and_ends_the_line() -> None:
    out = io.StringIO()
    show = progress_bar(out)
    for done in (0, 1, 2, 500, 501, 1000):
        show(done, 1000)
    frames = out.getvalue().split("\r")[1:]
    assert frames == [
        "backtest [                         ]   0% (0/1000 candles)",
        "backtest [############             ]  50% (500/1000 candles)",
        "backtest [#########################] 100% (1000/1000 candles)\n",
    ]
