"""The verdict on one case of the hostile-exchange campaign, from what bench/hostile_run.py
observed. Defects first (a case shows the first that applies, ``flags`` lists them all):

- TRACEBACK: any "Traceback" in the daemon's output.
- GARBAGE BOOKED: the books differ from the exchange: a stored fill that is not the
  exchange's trade (unknown id, other price, quantity or order), an ended order whose
  executed quantity is not the exchange's, with more booked than that, or REJECTED while it
  has fills, or a cost basis quantity that is not the base balance the exchange holds (beyond
  the fills not booked yet and 0.5 %). An ended order with the exchange's executed quantity
  but fewer fills booked (they could not be read yet; the daemon settles them before its
  next decision) is not garbage: ``unbooked`` says so.
- PRICE TRUSTED: an order sent at a price more than risk.max_price_deviation_pct away from the
  simulator's market price at that moment.
- SILENT: a stream (market or user) absent at the simulator for SILENT_AFTER_S while the
  daemon kept feeding the systemd watchdog (its health said healthy).
- HUNG ON STOP: still running STOP_LIMIT_S after SIGTERM; BAD STOP: exit != 0 on SIGTERM.
- EXIT UNNAMED: exited on its own without one "error:" line naming the request
  (method and path) or the stream; STOPPED EXIT 0: exited 0 on its own.
Otherwise: "exited cleanly" (exit != 0 on its own, the request named) or "survived" (running
at the end, exit 0 on SIGTERM); "survived (not reached)" when the scripted bad answer was never
asked for (the daemon does not call that endpoint in this run)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from bench.hostile_cases import Case
from bench.hostile_run import MAX_DEVIATION_PCT, SILENT_AFTER_S, STOP_LIMIT_S, Observed
from daemon.domain.orders import OrderState

DEFECTS = ("TRACEBACK", "GARBAGE BOOKED", "PRICE TRUSTED", "SILENT", "HUNG ON STOP",
           "BAD STOP", "EXIT UNNAMED", "STOPPED EXIT 0")
FINE = ("exited cleanly", "survived", "survived (not reached)")
CLASSES = DEFECTS + FINE
NAMED = re.compile(r"\b(GET|POST|PUT|DELETE) /api/v3/\w|websocket|\bws\b|stream")
ENDED = (OrderState.FILLED, OrderState.CANCELED, OrderState.PARTIALLY_CANCELED,
         OrderState.REJECTED)


@dataclass
class Verdict:
    case: str
    group: str
    times: str
    klass: str
    flags: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    excerpt: list[str] = field(default_factory=list)
    orders_sent: int = 0
    fills_booked: int = 0
    exchange_fills: int = 0
    ready: bool = False
    exit: int | None = None
    unbooked: bool = False  # an ended order's fills not all read yet (known to the daemon)


def judge(case: Case, seen: Observed) -> Verdict:
    v = Verdict(case.name, case.group, case.times, "survived", ready=seen.ready_at is not None,
                orders_sent=len(seen.sent), fills_booked=len(seen.fills),
                exchange_fills=len(seen.venue_trades),
                exit=seen.exit_before_stop if seen.exit_before_stop is not None
                else seen.exit_on_stop)
    lines = seen.log.splitlines()
    if "Traceback" in seen.log:
        _flag(v, "TRACEBACK", "a traceback in the output", _around(lines, "Traceback"))
    _books(v, seen)
    _prices(v, seen)
    _silent(v, seen)
    _exit(v, seen, lines)
    v.klass = next((f for f in DEFECTS if f in v.flags), v.klass)
    if v.klass == "survived" and case.group == "rest" and seen.reached == 0:
        v.klass = "survived (not reached)"
    return v


def _flag(v: Verdict, flag: str, detail: str, excerpt: list[str] | None = None) -> None:
    if flag not in v.flags:
        v.flags.append(flag)
    v.details.append(f"{flag}: {detail}")
    if excerpt and not v.excerpt:
        v.excerpt = excerpt


def _around(lines: list[str], needle: str, after: int = 14) -> list[str]:
    for i, line in enumerate(lines):
        if needle in line:
            start = max(0, i - 2)
            return [x[:240] for x in lines[start:i + after]]
    return []


def _books(v: Verdict, seen: Observed) -> None:
    if seen.state is None:
        return
    trades: dict[str, dict[str, object]] = {}
    rest_to_push = dict(seen.trade_ids)
    for t in seen.venue_trades:
        trades[str(t["id"])] = t
        trades[rest_to_push.get(str(t["id"]), str(t["id"]))] = t
    for f in seen.fills:
        t = trades.get(f.trade_id)
        if t is None:
            _flag(v, "GARBAGE BOOKED", f"fill {f.trade_id} ({f.qty} @ {f.price}) is no trade "
                  "of the exchange")
        elif (Decimal(str(t["price"])), Decimal(str(t["qty"])), str(t["orderId"])) != (
                f.price, f.qty, f.order_id):
            _flag(v, "GARBAGE BOOKED", f"fill {f.trade_id} booked {f.qty} @ {f.price} (order "
                  f"{f.order_id}); the exchange has {t['qty']} @ {t['price']} (order "
                  f"{t['orderId']})")
    _ended_orders(v, seen)
    _cost_qty(v, seen)


def _ended_orders(v: Verdict, seen: Observed) -> None:
    assert seen.state is not None
    venue = {str(o["orderId"]): o for o in seen.venue_orders}
    for coid, order in seen.state.orders.items():
        if order.status not in ENDED or order.order_id is None:
            continue
        o = venue.get(order.order_id)
        if o is None:
            continue
        executed = Decimal(str(o["executedQty"]))
        if order.venue_executed_qty != executed or order.filled_qty > executed or (
                order.status is OrderState.REJECTED and executed):
            _flag(v, "GARBAGE BOOKED", f"order {coid} {order.status.value}, executed "
                  f"{order.venue_executed_qty} with {order.filled_qty} booked; the exchange: "
                  f"{o['status']} executed {executed}")
        elif order.filled_qty < executed:  # it knows: asked again before the next decision
            v.details.append(f"note: order {coid} {order.status.value}: {order.filled_qty} of "
                             f"{executed} booked so far (the rest not read yet)")
            v.unbooked = True


def _cost_qty(v: Verdict, seen: Observed) -> None:
    assert seen.state is not None
    cost = seen.state.cost_basis
    if not cost or cost.get("qty") is None:
        return
    qty = Decimal(str(cost["qty"]))
    booked = {f.trade_id for f in seen.fills}
    rest_to_push = dict(seen.trade_ids)
    unbooked = sum((Decimal(str(t["qty"])) for t in seen.venue_trades
                    if str(t["id"]) not in booked
                    and rest_to_push.get(str(t["id"])) not in booked), Decimal(0))
    slack = unbooked + seen.qrl_balance * Decimal("0.005")
    if abs(qty - seen.qrl_balance) > slack:
        _flag(v, "GARBAGE BOOKED", f"cost basis covers {qty:.6g} QRL; the exchange holds "
              f"{seen.qrl_balance} ({unbooked} in fills not booked)")


def _prices(v: Verdict, seen: Observed) -> None:
    for params, market in seen.sent:
        price = params.get("price")
        if price is None or market <= 0:
            continue
        off = abs(Decimal(price) / market - 1) * 100
        if off > MAX_DEVIATION_PCT:
            _flag(v, "PRICE TRUSTED", f"{params.get('side')} {params.get('type')} "
                  f"{params.get('quantity')} @ {price} with the market at {market} "
                  f"({off:.0f} % away)")


def _silent(v: Verdict, seen: Observed) -> None:
    if seen.ready_at is None:
        return
    for index, name in ((1, "market"), (2, "user")):
        down_since: float | None = None
        for sample in seen.samples:
            t, alive, fed = sample[0], sample[index], sample[3]
            if t < seen.ready_at or alive:
                down_since = None
                continue
            down_since = t if down_since is None else down_since
            if t - down_since >= SILENT_AFTER_S and fed:
                _flag(v, "SILENT", f"{name} stream absent at the exchange for "
                      f"{t - down_since:.0f} s while the watchdog was fed")
                break


def _exit(v: Verdict, seen: Observed, lines: list[str]) -> None:
    if seen.hung:
        _flag(v, "HUNG ON STOP", f"still running {STOP_LIMIT_S:.0f} s after SIGTERM")
        return
    if seen.exit_on_stop is not None:
        if seen.exit_on_stop != 0:
            _flag(v, "BAD STOP", f"exit {seen.exit_on_stop} on SIGTERM", lines[-6:])
        return
    code = seen.exit_before_stop
    errors = [x for x in lines if x.startswith("error:")]
    if code == 0:
        _flag(v, "STOPPED EXIT 0", "exited 0 before SIGTERM", lines[-6:])
    elif len(errors) != 1 or not NAMED.search(errors[0]):
        _flag(v, "EXIT UNNAMED", f"exit {code}: {errors or 'no error: line'}",
              errors or lines[-6:])
    else:
        v.klass = "exited cleanly"
        v.excerpt = [errors[0][:300]]

