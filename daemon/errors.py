"""The project's one error tree.

Adapters translate venue, HTTP, Redis and file errors into these classes; nothing above the
adapters catches a library exception directly.

    RebalancerError
    ├── ConfigError                 bad config.yaml, CLI argument or secret (exit 2)
    ├── InputError                  a malformed snapshot or other user-supplied document
    ├── StateError                  Redis content that is unknown, corrupt or of another schema
    │   ├── IntentExists            an intent with this client order id is stored: never resend
    │   ├── OrderConflict           facts about one order contradict each other
    │   ├── BooksChanged            the books in Redis changed since this writer read them
    │   └── BooksLost               Redis lost, rolled back or replaced the books
    ├── StoreUnavailable            Redis cannot be reached or written (pauses trading)
    ├── LeaseLost                   another instance holds the trading lease
    ├── TradingHalted               the halt flag is set: no new order may be written
    ├── NotifierGone                the notification sender process did not answer or died
    └── ExchangeError               anything the exchange (or the path to it) answered
        ├── TransientExchangeError  worth retrying where a retry cannot duplicate an effect
        │   ├── RateLimited         429 / 418, carries retry_after_s
        │   ├── ExchangeUnavailable 5xx, timeouts, connection resets
        │   ├── TimestampOutOfWindow 700003: resync the clock and retry
        │   └── InvalidListenKey    the private stream refused the listenKey: get a new one
        ├── OutcomeUnknown          a request with an effect (order, cancel) whose answer was
        │                           lost or unreadable: resolve by querying, never resend
        └── FatalExchangeError      retrying cannot help
            ├── AuthError           bad key/signature/permission/IP
            ├── OrderRejected       the exchange refused an order (balance, minimum, precision)
            ├── UnknownOrder        -2011 / -2013: the exchange does not know the order (yet)
            ├── SymbolNotTradable   missing, offline or not API-tradable symbol
            └── ProtocolError       a payload that does not parse as MEXC's documented shape
                └── SubscriptionRejected  a websocket SUBSCRIPTION answered with a refusal

The three branches under ExchangeError are disjoint, so a caller that handles OutcomeUnknown,
TransientExchangeError and FatalExchangeError in separate clauses does not depend on their order.
A reply to an order-placing or cancelling request that cannot be read is never a ProtocolError:
the adapter raises OutcomeUnknown (with the ProtocolError as ``__cause__``), because the request
may well have taken effect.

Outside the tree, as KeyboardInterrupt is: ``StopInterrupt``, a stop signal raised into a write
of the demo's that blocks (``daemon.commands.demo_processes.StopRequest``); control flow, never
an error shown to anyone.
"""

from __future__ import annotations


class RebalancerError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(RebalancerError):
    """Invalid configuration; ``problems`` lists one line per key path."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message if problems is None else message + "\n" + "\n".join(problems))


class InputError(RebalancerError):
    """A malformed user document (snapshot, CLI value); the message names the field."""


class StateError(RebalancerError):
    """Redis content that is unknown, corrupt or of a schema this version does not read."""


class IntentExists(StateError):
    """An intent with this client order id is already stored: never send it again."""


class OrderConflict(StateError):
    """Facts about one order that contradict each other (wrong order id, side, over-fill)."""


class BooksChanged(StateError):
    """A fenced write found the books in Redis changed since this writer read them (another
    writer, an operator command, or content changed behind the daemon's back): nothing was
    written; reload, then decide again."""


class BooksLost(StateError):
    """Redis no longer holds the books this process wrote: the schema or epoch key is gone or
    changed, or the books version went backwards (a restart without persistence, a stale
    snapshot). Never written on: trading stops until reconciliation or a rebuild."""


class StoreUnavailable(RebalancerError):
    """The state store cannot be read or written right now."""


class LeaseLost(RebalancerError):
    """Another instance holds the trading lease for this account and symbol."""


class TradingHalted(RebalancerError):
    """The halt flag is set; no new order may be written."""


class NotifierGone(RebalancerError):
    """The notification sender process did not answer in time, or died (it is restarted)."""


class ExchangeError(RebalancerError):
    """Base of exchange errors. ``code`` is MEXC's error code when there is one."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None):
        self.code = code
        self.http_status = http_status
        super().__init__(message)


class TransientExchangeError(ExchangeError):
    """A failure that may go away; safe to retry only for requests without effects."""


class RateLimited(TransientExchangeError):
    def __init__(self, message: str, *, retry_after_s: float, code: int | None = None,
                 http_status: int | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, code=code, http_status=http_status)


class ExchangeUnavailable(TransientExchangeError):
    """5xx, timeout, connection reset."""


class TimestampOutOfWindow(TransientExchangeError):
    """700003: the request timestamp fell outside recvWindow; resync the clock."""


class InvalidListenKey(TransientExchangeError):
    """The private stream refused the listenKey: get a new one and reconnect."""


class OutcomeUnknown(ExchangeError):
    """A request with an effect was sent but its answer was lost or unreadable; resolve by
    querying, never by sending again. The error that made it unknown is ``__cause__``."""


class FatalExchangeError(ExchangeError):
    """Retrying the same request cannot help."""


class AuthError(FatalExchangeError):
    pass


class OrderRejected(FatalExchangeError):
    pass


class UnknownOrder(FatalExchangeError):
    pass


class SymbolNotTradable(FatalExchangeError):
    pass


class ProtocolError(FatalExchangeError):
    """The exchange sent something that does not match MEXC's documented shape."""


class SubscriptionRejected(ProtocolError):
    """The server answered a SUBSCRIPTION with something other than the channel name
    (e.g. "Not Subscribed successfully! [...] Reason： Blocked!")."""


class StopInterrupt(Exception):
    """Raised by a stop signal into a write that blocks (``StopRequest.interrupting``)."""
