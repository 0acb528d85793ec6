"""Each return's ledger is a hash chain: any edit, deletion or reordering of its events shows."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise

import pytest
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session

from connector import ledger
from connector.db.models import Base, LedgerEvent, Merchant, Order, Return, Store

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
EVENTS = [
    ("ReturnRequested", {"lines": [{"sku": "SHIRT-M", "quantity": 1}]}, "platform:shopify"),
    ("ReturnApproved", {"rule_ids": [], "reason": "WITHIN_WINDOW"}, "policy"),
    ("LabelIssued", {"carrier": "ratecard", "tracking_number": "1Z999"}, "system"),
    ("ParcelReceived", {"weight_g": 480}, "warehouse:nj"),
]
EVENTS_TABLE = LedgerEvent.__table__


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def _new_return(session: Session, rma: str) -> Return:
    merchant = session.scalar(select(Merchant)) or Merchant(name="Ana's Linen", slug="anas-linen")
    session.add(merchant)
    session.flush()
    store = Store(merchant_id=merchant.id, platform="sandbox", external_id=f"store-{rma}")
    session.add(store)
    session.flush()
    order = Order(
        merchant_id=merchant.id,
        store_id=store.id,
        external_id=f"order-{rma}",
        number="#1001",
        currency="USD",
        total_minor=4990,
        placed_at=T0 - timedelta(days=10),
    )
    session.add(order)
    session.flush()
    return_ = Return(
        merchant_id=merchant.id,
        store_id=store.id,
        order_id=order.id,
        rma=rma,
        requested_at=T0,
    )
    session.add(return_)
    session.flush()
    return return_


def _return_with_events(session: Session, rma: str = "RMA-1") -> Return:
    return_ = _new_return(session, rma)
    for minutes, (kind, payload, actor) in enumerate(EVENTS):
        ledger.append(session, return_, kind, payload, actor, T0 + timedelta(minutes=minutes))
    session.commit()
    return return_


def _events(session: Session, return_: Return) -> list[LedgerEvent]:
    return list(
        session.scalars(
            select(LedgerEvent).where(LedgerEvent.return_id == return_.id).order_by(LedgerEvent.seq)
        )
    )


def _verify(session: Session, return_: Return) -> ledger.Breach | None:
    session.expire_all()  # read what the database holds now, not what this session wrote
    return ledger.verify_return(return_, _events(session, return_))


def _event_id(session: Session, return_: Return, seq: int) -> int:
    return session.scalar(
        select(LedgerEvent.id).where(LedgerEvent.return_id == return_.id, LedgerEvent.seq == seq)
    )


def _tamper(session: Session, return_: Return, at_seq: int, /, **values: object) -> None:
    """Change the stored event directly in the database, as someone with SQL access could."""
    session.execute(
        update(EVENTS_TABLE)
        .where(EVENTS_TABLE.c.return_id == return_.id, EVENTS_TABLE.c.seq == at_seq)
        .values(**values)
    )
    session.commit()


def _delete(session: Session, return_: Return, seq: int) -> None:
    session.execute(
        delete(EVENTS_TABLE).where(
            EVENTS_TABLE.c.return_id == return_.id, EVENTS_TABLE.c.seq == seq
        )
    )
    session.commit()


def test_appended_events_are_numbered_and_chained_from_genesis(session):
    return_ = _return_with_events(session)

    events = _events(session, return_)

    assert [event.seq for event in events] == [1, 2, 3, 4]
    assert [event.kind for event in events] == [kind for kind, _, _ in EVENTS]
    assert events[0].prev_hash == ledger.GENESIS
    for previous, event in pairwise(events):
        assert event.prev_hash == previous.hash
    assert return_.ledger_head == events[-1].hash
    assert return_.ledger_length == 4


def test_intact_chain_verifies_clean(session):
    return_ = _return_with_events(session)

    assert _verify(session, return_) is None


def test_verify_all_reports_every_return_clean_across_batches(session):
    for rma in ("RMA-1", "RMA-2", "RMA-3"):
        _return_with_events(session, rma)
    _new_return(session, "RMA-EMPTY")
    session.commit()

    results = [(return_.rma, breach) for return_, breach in ledger.verify_all(session, batch=2)]

    assert results == [("RMA-1", None), ("RMA-2", None), ("RMA-3", None), ("RMA-EMPTY", None)]


def test_edited_payload_is_reported_as_edited_naming_its_seq(session):
    return_ = _return_with_events(session)
    _tamper(session, return_, 2, payload={"rule_ids": [], "reason": "MANAGER_OVERRIDE"})

    breach = _verify(session, return_)

    assert breach is not None
    assert breach.problem == "edited"
    assert breach.seq == 2
    assert breach.event_id == _event_id(session, return_, 2)
    assert str(breach) == f"return RMA-1: event #2 (id {breach.event_id}) was edited"


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "ReturnDeclined"},
        {"actor": "someone-else"},
        {"occurred_at": T0 - timedelta(days=1)},
    ],
    ids=["kind", "actor", "occurred_at"],
)
def test_any_edited_column_is_reported_as_edited(session, change):
    return_ = _return_with_events(session)
    _tamper(session, return_, 3, **change)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem) == (3, "edited")


def test_verify_all_names_the_edited_event(session):
    return_ = _return_with_events(session)
    _tamper(session, return_, 1, payload={"lines": []})

    ((checked, breach),) = ledger.verify_all(session)

    assert checked.id == return_.id
    assert breach is not None
    assert (breach.seq, breach.problem, breach.rma) == (1, "edited", "RMA-1")


def test_deleted_middle_event_is_reported_as_deleted(session):
    return_ = _return_with_events(session)
    _delete(session, return_, 2)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem) == (2, "deleted")


def test_deleted_first_event_is_reported_as_deleted(session):
    return_ = _return_with_events(session)
    _delete(session, return_, 1)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem) == (1, "deleted")


def test_deleted_last_event_is_detected_through_the_length_kept_on_the_return(session):
    return_ = _return_with_events(session)
    _delete(session, return_, 4)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem, breach.event_id) == (4, "deleted", None)
    assert str(breach) == "return RMA-1: event #4 was deleted"


def test_deleting_every_event_is_detected(session):
    return_ = _return_with_events(session)
    for seq in (1, 2, 3, 4):
        _delete(session, return_, seq)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem) == (1, "deleted")


def test_swapped_events_are_reported_as_reordered(session):
    return_ = _return_with_events(session)
    _tamper(session, return_, 2, seq=99)  # (return_id, seq) is unique: swap through a spare
    _tamper(session, return_, 3, seq=2)
    _tamper(session, return_, 99, seq=3)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem) == (2, "reordered")


def test_rehashed_edit_without_fixing_the_next_link_is_still_detected(session):
    return_ = _return_with_events(session)
    edited = _events(session, return_)[1]
    forged_payload = {"rule_ids": [], "reason": "MANAGER_OVERRIDE"}
    forged_hash = ledger.event_hash(
        edited.prev_hash,
        return_.id,
        edited.seq,
        edited.kind,
        forged_payload,
        edited.actor,
        edited.occurred_at,
    )
    _tamper(session, return_, 2, payload=forged_payload, hash=forged_hash)

    breach = _verify(session, return_)

    assert breach is not None
    assert breach.seq == 3  # event 2 now checks out on its own; its successor's link does not
    assert breach.problem in {"edited", "reordered"}


def test_rehashed_last_event_is_detected_through_the_head_kept_on_the_return(session):
    return_ = _return_with_events(session)
    last = _events(session, return_)[-1]
    forged_payload = {"weight_g": 5}
    forged_hash = ledger.event_hash(
        last.prev_hash,
        return_.id,
        last.seq,
        last.kind,
        forged_payload,
        last.actor,
        last.occurred_at,
    )
    _tamper(session, return_, 4, payload=forged_payload, hash=forged_hash)

    breach = _verify(session, return_)

    assert breach is not None
    assert (breach.seq, breach.problem) == (4, "edited")


def test_tampering_with_one_return_leaves_the_others_clean(session):
    first = _return_with_events(session, "RMA-1")
    _return_with_events(session, "RMA-2")
    _tamper(session, first, 2, payload={})

    results = {return_.rma: breach for return_, breach in ledger.verify_all(session, batch=1)}

    assert results["RMA-1"] is not None
    assert results["RMA-2"] is None


def test_event_moved_to_another_return_breaks_both_chains(session):
    first = _return_with_events(session, "RMA-1")
    second = _return_with_events(session, "RMA-2")
    _tamper(session, first, 4, return_id=second.id, seq=5)

    results = {return_.rma: breach for return_, breach in ledger.verify_all(session)}

    assert results["RMA-1"] is not None
    assert results["RMA-2"] is not None


def test_stored_payload_is_the_canonical_json_that_was_hashed(session):
    return_ = _new_return(session, "RMA-1")
    event = ledger.append(
        session, return_, "RefundIssued", {"amount": Decimal("12.50"), "currency": "USD"}
    )
    session.commit()

    assert event.payload == {"amount": "12.50", "currency": "USD"}
    assert _verify(session, return_) is None


def test_event_time_is_kept_to_the_second(session):
    return_ = _new_return(session, "RMA-1")
    event = ledger.append(
        session, return_, "ReturnRequested", occurred_at=T0.replace(microsecond=654321)
    )
    session.commit()

    assert event.occurred_at == T0
    assert _verify(session, return_) is None


def test_event_recorded_with_a_non_utc_time_verifies_after_reload(session):
    lisbon_summer = timezone(timedelta(hours=1))
    return_ = _new_return(session, "RMA-1")
    ledger.append(session, return_, "ReturnRequested", occurred_at=T0.astimezone(lisbon_summer))
    session.commit()

    assert _verify(session, return_) is None


def test_canonical_json_sorts_keys_and_drops_whitespace():
    assert ledger.canonical_json({"b": 1, "a": {"d": [2, 1], "c": "é"}}) == (
        '{"a":{"c":"é","d":[2,1]},"b":1}'
    )


def test_hash_is_deterministic_whatever_the_key_order():
    first = ledger.event_hash(ledger.GENESIS, 7, 1, "ReturnRequested", {"a": 1, "b": 2}, "x", T0)
    second = ledger.event_hash(ledger.GENESIS, 7, 1, "ReturnRequested", {"b": 2, "a": 1}, "x", T0)

    assert first == second


def test_hash_is_sha256_of_the_previous_hash_and_the_canonical_event():
    body = (
        '{"actor":"policy","kind":"ReturnApproved","occurred_at":"2024-05-01T09:30:00+00:00",'
        '"payload":{"reason":"WITHIN_WINDOW"},"return_id":7,"seq":2}'
    )
    expected = hashlib.sha256(("a" * 64 + body).encode()).hexdigest()

    actual = ledger.event_hash(
        "a" * 64, 7, 2, "ReturnApproved", {"reason": "WITHIN_WINDOW"}, "policy", T0
    )

    assert actual == expected


@pytest.mark.parametrize(
    "changed",
    [
        {"prev_hash": "b" * 64},
        {"return_id": 8},
        {"seq": 3},
        {"kind": "ReturnDeclined"},
        {"payload": {"reason": "WITHIN_WINDOW "}},
        {"actor": "admin"},
        {"occurred_at": T0 + timedelta(seconds=1)},
    ],
    ids=lambda changed: next(iter(changed)),
)
def test_hash_covers_every_field(changed):
    fields = {
        "prev_hash": "a" * 64,
        "return_id": 7,
        "seq": 2,
        "kind": "ReturnApproved",
        "payload": {"reason": "WITHIN_WINDOW"},
        "actor": "policy",
        "occurred_at": T0,
    }

    assert ledger.event_hash(**fields) != ledger.event_hash(**(fields | changed))
