"""The sweeper picks up work a crash or a Redis outage left behind, and only that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select, update

from connector import jobs
from connector.db import models
from connector.demo import bootstrap, import_orders
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake


def _lost_return(app: Flask) -> int:
    """A return committed while Redis was down: its decide job was never queued."""
    runtime = app.extensions["helloword"]
    setup = bootstrap(runtime, orders=4)
    import_orders(runtime, setup)
    with runtime.db.transaction() as session:
        store = session.get(models.Store, setup.store_id)
        order = session.scalars(select(models.Order).order_by(models.Order.id)).first()
        request = ReturnRequest(
            order.external_id,
            (ReturnLine(order.lines[0].external_id, 1, Reason.UNWANTED, Condition.UNUSED),),
            datetime.now(UTC),
        )
        return_, _ = intake.create_return(session, store, order, request, source="api")
        return return_.id


def _age(app: Flask, minutes: int) -> None:
    runtime = app.extensions["helloword"]
    past = datetime.now(UTC) - timedelta(minutes=minutes)
    with runtime.db.transaction() as session:
        session.execute(update(models.Return).values(updated_at=past))
        session.execute(update(models.OutboundAction).values(created_at=past))


def test_a_fresh_return_is_left_to_its_own_jobs(app: Flask) -> None:
    with app.app_context():
        _lost_return(app)
        assert jobs.sweep_outbox() == {"queued": 0}


def test_a_return_whose_job_was_lost_is_decided_after_the_sweep(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    with app.app_context():
        return_id = _lost_return(app)
        _age(app, 5)
        assert jobs.sweep_outbox() == {"queued": 1}
        assert jobs.sweep_outbox() == {"queued": 0}  # already queued: not twice
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )
    with runtime.db.session() as session:
        assert session.get(models.Return, return_id).status != "REQUESTED"


def test_a_pending_push_is_queued_again(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    with app.app_context():
        return_id = _lost_return(app)
        with runtime.db.transaction() as session:
            from connector.services import outbox

            return_ = session.get(models.Return, return_id)
            outbox.publish(session, return_, "approve")
            session.execute(
                update(models.Return).values(status="DECLINED")
            )  # settled otherwise: only the push is left
        _age(app, 5)
        assert jobs.sweep_outbox() == {"queued": 1}
        queued = runtime.queue.get_job_ids()
    assert len(queued) == 1 and queued[0].startswith("sweep-perform_outbound_action-")
