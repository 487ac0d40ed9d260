"""Backtest and what-if: replays a candle file through the daemon's own decision and booking
code (``rebalancer backtest``). See ``result.py`` for what a run produces."""
