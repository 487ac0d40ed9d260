"""mexc-rebalancer: an asyncio daemon that keeps a MEXC spot portfolio near its target mix."""

__version__ = "0.1.0"
