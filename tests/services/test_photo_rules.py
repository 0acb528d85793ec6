"""Photos the buyer attached count where the policy asks for them, and go with an erasure."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from PIL import Image
from sqlalchemy import select

from connector import jobs
from connector.db import models
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake, photos, policies, privacy
from tests.services.test_refunds import drain

NEEDS_A_PHOTO = {
    "defaults": {"window_days": 3650},
    "rules": [
        {"id": "show-the-fault", "when": {"reason": "DEFECTIVE"}, "then": {"require_photos": 1}}
    ],
}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _defective_return(ctx: dict[str, Any], with_photo: bool, nth: int = 0) -> int:
    """A defective item of the ``nth`` demo order, returned with or without a photo of it."""
    runtime = ctx["runtime"]
    with runtime.db.transaction() as session:
        policies.save(session, ctx["setup"].merchant_id, NEEDS_A_PHOTO)
        store = session.get(models.Store, ctx["setup"].store_id)
        order = session.scalars(
            select(models.Order)
            .where(models.Order.store_id == store.id)
            .order_by(models.Order.id)
            .offset(nth)
        ).first()
        request = ReturnRequest(
            order_external_id=order.external_id,
            lines=(ReturnLine(order.lines[0].external_id, 1, Reason.DEFECTIVE, Condition.USED),),
            requested_at=datetime.now(UTC),
        )
        return_, follow_ups = intake.create_return(session, store, order, request, source="portal")
        if with_photo:
            photos.store_photo(
                session, runtime.files, return_.id, return_.lines[0].id, _png(), "buyer"
            )
        return_id = return_.id
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    return return_id


def test_a_photo_the_buyer_attached_satisfies_the_policy(ctx) -> None:
    with_photo = _defective_return(ctx, with_photo=True)
    without = _defective_return(ctx, with_photo=False, nth=1)

    with ctx["runtime"].db.session() as session:
        shown = session.get(models.Return, with_photo)
        missing = session.get(models.Return, without)
        assert shown.review_queue != "photos-missing"
        assert shown.lines[0].outcome == "approve"
        assert (missing.status, missing.review_queue) == ("IN_REVIEW", "photos-missing")


def test_an_erasure_removes_the_buyers_photos(ctx) -> None:
    runtime = ctx["runtime"]
    return_id = _defective_return(ctx, with_photo=True)
    with runtime.db.transaction() as session:
        return_ = session.get(models.Return, return_id)
        path = session.scalars(select(models.ReturnPhoto.path)).one()
        store = session.get(models.Store, return_.store_id)
        customer = return_.order.customer
        privacy.redact_customer(
            session,
            runtime.files,
            store,
            customer_external_id=customer.external_id,
            email=customer.email,
            order_external_ids=[return_.order.external_id],
        )

    assert not runtime.files.path(path).exists()
    with runtime.db.session() as session:
        assert session.scalars(select(models.ReturnPhoto)).all() == []
