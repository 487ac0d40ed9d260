"""Moving weighted average cost basis, realized/unrealized PnL, dedup by trade id, fee assets,
Redis round trip, and the core floor rules."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.domain.cost_basis import Core, CostBasis, initial_core_floor, next_core
from daemon.domain.models import Fill, Side
from daemon.errors import StateError

D = Decimal
KW = {"base_asset": "QRL", "quote_asset": "USDT"}


def fill(tid: str, side: Side, qty: str, px: str, fee: str = "0", asset: str = "USDT") -> Fill:
    return Fill(trade_id=tid, order_id="o" + tid, client_order_id=None, side=side,
                price=D(px), qty=D(qty), quote_qty=D(qty) * D(px), fee=D(fee),
                fee_asset=asset, time_ms=1_700_000_000_000)


def test_buy_fee_in_quote() -> None:
    cb = CostBasis().apply(fill("1", Side.BUY, "1000", "0.05", "0.05"), **KW)
    assert cb.avg_cost == D("0.05005") and cb.qty == D(1000)
    cb = cb.apply(fill("2", Side.BUY, "1000", "0.04", "0"), **KW)
    assert cb.avg_cost == D("0.045025") and cb.qty == D(2000)


def test_buy_fee_in_base() -> None:
    cb = CostBasis().apply(fill("1", Side.BUY, "1000", "0.05", "10", "QRL"), **KW)
    assert cb.qty == D(990) and cb.avg_cost is not None
    assert abs(cb.avg_cost - D("0.0505050505050505050505")) < D("1e-22")  # 50 / 990


def test_sell_realizes_and_keeps_average() -> None:
    cb = CostBasis.initial(D("0.05"), D(10000))
    cb = cb.apply(fill("1", Side.SELL, "2000", "0.06", "0.06"), **KW)
    assert cb.avg_cost == D("0.05") and cb.qty == D(8000)
    assert cb.realized_pnl == D("19.94")  # (0.06 - 0.05) * 2000 - 0.06
    cb = cb.apply(fill("2", Side.SELL, "1000", "0.04", "5", "qrl"), **KW)
    assert cb.qty == D(6995) and cb.realized_pnl == D("9.94")
    assert cb.unrealized(D("0.07")) == D("139.90")


def test_a_trade_id_repeated_in_one_apply_all_counts_once() -> None:
    f = fill("7", Side.BUY, "100", "1")
    once = CostBasis().apply(f, **KW)
    assert CostBasis().apply_all([f, f, f], **KW) == once
    assert once.fills == 1 and once.qty == D(100)


def test_the_cost_basis_holds_aggregates_only_and_reads_schema_1() -> None:
    """Schema 1 carried every applied trade id (its size grew with every fill); schema 2 keeps
    the figures and a count: the same size at the ten-thousandth fill as at the first."""
    fills = [fill(str(i), Side.BUY, "1", "1") for i in range(200)]
    cb = CostBasis().apply_all(fills, **KW)
    data = cb.to_dict()
    assert data == {"v": 2, "avg_cost": "1", "qty": "200", "realized_pnl": "0",
                    "fees_other": {}, "fills": 200}
    old = {**data, "v": 1, "trade_ids": [str(i) for i in range(200)]}
    del old["fills"]
    assert CostBasis.from_dict(old) == cb  # the ids count the fills, then are dropped


def test_third_asset_fee_converted_or_recorded() -> None:
    f = fill("1", Side.BUY, "100", "1", "2", "MX")
    converted = CostBasis().apply(f, **KW, fee_prices={"MX": D("2.5")})
    assert converted.avg_cost == D("1.05") and converted.fees_other == ()
    kept = CostBasis().apply(f, **KW)
    assert kept.avg_cost == D(1) and kept.fees_other == (("MX", D(2)),)
    kept = kept.apply(fill("2", Side.SELL, "10", "2", "1", "MX"), **KW)
    assert kept.fees_other == (("MX", D(3)),) and kept.realized_pnl == D(10)


def test_unknown_average() -> None:
    cb = CostBasis()
    assert cb.unrealized(D(1)) is None
    cb = cb.apply(fill("1", Side.SELL, "5", "1"), **KW)  # sells what the basis never covered
    assert cb.qty == 0 and cb.realized_pnl == 0 and cb.avg_cost is None


def test_sell_more_than_covered_floors_at_zero() -> None:
    cb = CostBasis.initial(D(1), D(10)).apply(fill("1", Side.SELL, "15", "2"), **KW)
    assert cb.qty == 0 and cb.realized_pnl == D(15)


def test_bad_fill_is_rejected_naming_it() -> None:
    with pytest.raises(ValueError, match="fill 9"):
        CostBasis().apply(fill("9", Side.BUY, "0", "1"), **KW)


def test_round_trip_through_dict() -> None:
    cb = CostBasis().apply_all(
        [fill("1", Side.BUY, "100", "1", "1", "MX"), fill("2", Side.BUY, "50", "1.3", "0.1")],
        **KW,
    )
    again = CostBasis.from_dict(cb.to_dict())
    assert again == cb
    text = cb.to_dict()["avg_cost"]  # (100*1 + 50*1.3 + 0.1) / 150, 50 significant digits kept
    assert isinstance(text, str) and text.startswith("1.10066666666666666666666666666666")
    assert len(text) == 51 and text.endswith("7")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("qty"), "cost basis.qty: missing"),
        (lambda d: d.update(qty="abc"), "cost basis.qty"),
        (lambda d: d.update(qty=5), "cost basis.qty: expected a decimal string"),
        (lambda d: d.update(qty="-1"), "cost basis.qty: must be >= 0"),
        (lambda d: d.update(avg_cost="0"), "cost basis.avg_cost: must be positive"),
        (lambda d: d.update(v=99), "cost basis.v: unknown schema version"),
        (lambda d: d.update(fills=-1), "cost basis.fills"),
        (lambda d: d.update(fills="3"), "cost basis.fills"),
        (lambda d: d.update(v=1, trade_ids="1"), "cost basis.trade_ids"),
        (lambda d: d.update(fees_other={"MX": "x"}), "cost basis.fees_other.MX"),
        (lambda d: d.update(fees_other=[]), "cost basis.fees_other"),
    ],
)
def test_corrupt_state_names_the_field(mutate: object, field: str) -> None:
    data = CostBasis.initial(D("0.05"), D(10)).to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(StateError, match=field.replace(".", r"\.")):
        CostBasis.from_dict(data)


def test_from_dict_rejects_non_object() -> None:
    with pytest.raises(StateError, match="expected a JSON object"):
        CostBasis.from_dict([1])


# --- core floor ----------------------------------------------------------------------------


def test_core_floor_rules() -> None:
    assert initial_core_floor(D(12000), D("0.7")) == D(8400)
    core = next_core(Core(D(8400)), fill("1", Side.BUY, "1000", "0.05"), D("0.7"), "QRL")
    assert core == Core(D(9100), D(0))
    assert next_core(core, fill("2", Side.SELL, "3000", "0.06"), D("0.7"), "QRL") == Core(
        D(9100), D(3000))
    assert next_core(Core(None), fill("3", Side.BUY, "1000", "0.05"), D("0.7"), "QRL") == (
        Core(None))


def test_vector_c1_a_sell_and_its_buy_back_leave_the_floor() -> None:
    """STRATEGY.md C1: floor 7000, credit 0; BUY 1000, SELL 3300, BUY 1000, BUY 2300."""
    core, seen = Core(D(7000)), []
    for i, (side, qty) in enumerate([(Side.BUY, "1000"), (Side.SELL, "3300"),
                                     (Side.BUY, "1000"), (Side.BUY, "2300")]):
        core = next_core(core, fill(str(i), side, qty, "0.05"), D("0.7"), "QRL")
        seen.append(core)
    assert [c.floor for c in seen] == [D(7700)] * 4
    assert [c.credit for c in seen] == [D(0), D(3300), D(2300), D(0)]


def test_vector_c2_a_fee_in_base_is_not_bought_back() -> None:
    """STRATEGY.md C2: floor 7000, credit 500; BUY 1000 with fee 10 in base: n 990, used 500,
    floor 7000 + 0.7 x 490 = 7343, credit 0."""
    core = next_core(Core(D(7000), D(500)), fill("1", Side.BUY, "1000", "0.05", "10", "QRL"),
                     D("0.7"), "QRL")
    assert core == Core(D(7343), D(0))


core_fills = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]),
                                st.integers(1, 10**6), st.integers(0, 50),
                                st.sampled_from(["QRL", "USDT"])), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 100), core_fills)
def test_the_core_floor_never_falls(floor: int, credit: int, pct: int,
                                    fills: list[tuple[Side, int, int, str]]) -> None:
    core = Core(D(floor), D(credit))
    for i, (side, qty, fee, asset) in enumerate(fills):
        after = next_core(core, fill(str(i), side, str(qty), "0.05", str(fee), asset),
                          D(pct) / 100, "QRL")
        assert after.floor is not None and core.floor is not None
        assert after.floor >= core.floor and after.credit >= 0
        core = after


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 100),
       st.integers(1, 10**6), core_fills)
def test_a_sell_then_an_equal_buy_back_leaves_floor_and_credit(
        floor: int, credit: int, pct: int, qty: int,
        before: list[tuple[Side, int, int, str]]) -> None:
    core = Core(D(floor), D(credit))
    for i, (side, q, fee, asset) in enumerate(before):
        core = next_core(core, fill(f"b{i}", side, str(q), "0.05", str(fee), asset),
                         D(pct) / 100, "QRL")
    sold = next_core(core, fill("s", Side.SELL, str(qty), "0.06"), D(pct) / 100, "QRL")
    back = next_core(sold, fill("r", Side.BUY, str(qty), "0.05"), D(pct) / 100, "QRL")
    assert back == core


# --- property: equals a straightforward recomputation ----------------------------------------

fee_assets = st.sampled_from(["USDT", "QRL", "MX", "BNB"])


@st.composite
def fill_plans(draw: st.DrawFn) -> list[tuple[str, str, Decimal, Decimal, Decimal, str]]:
    """(trade id, side, qty or sell fraction, price, fee rate, fee asset); ids repeat on
    purpose."""
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        side = "BUY" if i == 0 else draw(st.sampled_from(["BUY", "SELL"]))
        tid = str(draw(st.integers(0, i)))  # duplicates of earlier ids
        amount = D(draw(st.integers(1, 10**7))) / 100
        frac = D(draw(st.integers(0, 90))) / 100
        price = D(draw(st.integers(1, 10**6))) / 10**4
        fee = D(draw(st.integers(0, 100))) / 10**4
        out.append((tid, side, amount if side == "BUY" else frac, price, fee, draw(fee_assets)))
    return out


def reference(plan: list[tuple[str, str, Decimal, Decimal, Decimal, str]]
              ) -> tuple[list[Fill], Decimal | None, Decimal, Decimal, dict[str, Decimal]]:
    """The STRATEGY.md formulas, applied plainly; also builds the fills (sells at most 90% of
    the covered quantity, so it never goes negative)."""
    mx_price = D("0.8")
    seen: set[str] = set()
    fills: list[Fill] = []
    avg: Decimal | None = None
    q, realized, other = D(0), D(0), {}
    for tid, side, amount, px, rate, asset in plan:
        if tid in seen:
            fills.append(fill(tid, Side(side), "1", "1", "0"))  # a duplicate: must be ignored
            continue
        qty = amount if side == "BUY" else (q * amount).quantize(D("1e-8"), rounding=ROUND_DOWN)
        if qty <= 0:
            continue  # nothing to sell
        seen.add(tid)
        fee = (qty * (1 if asset == "QRL" else px) * rate).quantize(D("1e-8"))
        fee_q = fee if asset == "USDT" else fee * mx_price if asset == "MX" else D(0)
        fee_b = fee if asset == "QRL" else D(0)
        if asset == "BNB" and fee:
            other[asset] = other.get(asset, D(0)) + fee
        if side == "BUY":
            avg = ((avg or D(0)) * q + qty * px + fee_q) / (q + qty - fee_b)
            q = q + qty - fee_b
        else:
            assert avg is not None
            realized += (px - avg) * qty - fee_q
            q = q - qty - fee_b
        fills.append(fill(tid, Side(side), str(qty), str(px), str(fee), asset))
    return fills, avg, q, realized, other


@settings(max_examples=150, deadline=None)
@given(fill_plans())
def test_cost_basis_equals_recomputation(
    plan: list[tuple[str, str, Decimal, Decimal, Decimal, str]],
) -> None:
    with localcontext() as ctx:
        ctx.prec = 50
        fills, avg, q, realized, other = reference(plan)
        cb = CostBasis().apply_all(fills, **KW, fee_prices={"MX": D("0.8")})
    assert q >= 0
    assert cb.qty == q and cb.avg_cost == avg and cb.realized_pnl == realized
    assert dict(cb.fees_other) == other
    assert cb.fills == len({f.trade_id for f in fills})
    assert CostBasis.from_dict(cb.to_dict()) == cb
