"""Jobs fail in three ways: a passing failure is retried later on a backoff schedule (or after
the remote's Retry-After), a permanent one lands in the failed registry, and work already done
ends quietly. Waiting on a platform that has the work is no failure: it is asked again without
spending the backoff, until a long deadline after which a person must look."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Flask
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select

from connector.db import models
from connector.jobs import AWAIT_DEADLINE, BACKOFF_SECONDS, enqueue, rq_job_id
from connector.services import merchants


def _work(app: Flask) -> tuple[datetime, datetime]:
    """Every queued job run; when the worker started and when it was done."""
    runtime = app.extensions["helloword"]
    started = datetime.now(UTC)
    with app.app_context():
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )
    return started, datetime.now(UTC)


def _scheduled_with(
    app: Flask, job_id: str, seconds: float, ran: tuple[datetime, datetime]
) -> bool:
    """Whether ``job_id`` is scheduled ``seconds`` after some moment while the worker ran
    (``ran``), however long the worker took: RQ keeps the time to the whole second."""
    runtime = app.extensions["helloword"]
    registry = ScheduledJobRegistry(queue=runtime.queue)
    assert job_id in registry.get_job_ids()
    at = registry.get_scheduled_time(job_id)
    started, ended = ran
    return (at - ended).total_seconds() <= seconds < (at - started).total_seconds() + 1


def test_job_ids_keep_to_what_rq_allows() -> None:
    assert rq_job_id("refund:12:1") == "refund-12-1"
    assert rq_job_id("outbound:attach label/5") == "outbound-attach_label_5"


def test_a_second_enqueue_of_the_same_work_is_a_no_op(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    assert enqueue(runtime, "noop", 1, job_id="same:work") is True
    assert enqueue(runtime, "noop", 1, job_id="same:work") is False
    assert runtime.queue.get_job_ids() == ["same-work"]


def test_a_retryable_failure_is_tried_again_after_the_first_backoff(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    enqueue(runtime, "tests.jobs.flaky.rate_limited", None, job_id="flaky:1")
    ran = _work(app)
    job = Job.fetch("flaky-1", connection=runtime.redis)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value()["retry_in"] == BACKOFF_SECONDS[0]
    assert _scheduled_with(app, "flaky-1-retry1", BACKOFF_SECONDS[0], ran)
    retry = Job.fetch("flaky-1-retry1", connection=runtime.redis)
    assert retry.meta == {"attempt": 1, "base_id": "flaky-1"}


def test_retry_after_from_the_remote_wins_when_longer(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    enqueue(runtime, "tests.jobs.flaky.rate_limited", 90.0, job_id="flaky:2")
    ran = _work(app)
    assert _scheduled_with(app, "flaky-2-retry1", 90, ran)


def test_retries_give_up_after_the_last_backoff_step(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    attempts = len(BACKOFF_SECONDS)
    enqueue(
        runtime,
        "tests.jobs.flaky.rate_limited",
        None,
        job_id="flaky:3",
        meta={"attempt": attempts, "base_id": "flaky-3"},
    )
    _work(app)
    assert "flaky-3" in FailedJobRegistry(queue=runtime.queue).get_job_ids()
    assert ScheduledJobRegistry(queue=runtime.queue).get_job_ids() == []


def test_a_permanent_failure_lands_in_the_failed_registry_untried(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    enqueue(runtime, "tests.jobs.flaky.misconfigured", job_id="broken:1")
    _work(app)
    failed = FailedJobRegistry(queue=runtime.queue)
    assert failed.get_job_ids() == ["broken-1"]
    assert "token was revoked" in (
        Job.fetch("broken-1", connection=runtime.redis).latest_result().exc_string or ""
    )
    assert ScheduledJobRegistry(queue=runtime.queue).get_job_ids() == []


def test_nothing_to_do_ends_quietly(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    enqueue(runtime, "tests.jobs.flaky.already_done", job_id="done:1")
    _work(app)
    job = Job.fetch("done-1", connection=runtime.redis)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"skipped": "the refund was issued before"}


def test_a_wait_on_the_platform_spends_none_of_the_backoff(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    spent = {"attempt": len(BACKOFF_SECONDS), "base_id": "slow-1"}  # a failure now gives up
    enqueue(runtime, "tests.jobs.flaky.still_processing", 300.0, job_id="slow:1", meta=spent)
    ran = _work(app)

    job = Job.fetch("slow-1", connection=runtime.redis)
    assert job.return_value()["retry_in"] == 300.0
    assert FailedJobRegistry(queue=runtime.queue).get_job_ids() == []
    assert _scheduled_with(app, "slow-1-wait1", 300, ran)
    meta = Job.fetch("slow-1-wait1", connection=runtime.redis).meta
    assert (meta["attempt"], meta["waits"], meta["base_id"]) == (len(BACKOFF_SECONDS), 1, "slow-1")
    assert time.time() - 60 < meta["awaiting_since"] <= time.time()


def test_waits_keep_the_time_of_the_first_one(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    since = time.time() - 3 * 3600
    meta = {"waits": 17, "awaiting_since": since, "base_id": "slow-2"}
    enqueue(runtime, "tests.jobs.flaky.still_processing", None, job_id="slow:2", meta=meta)
    ran = _work(app)

    retried = Job.fetch("slow-2-wait18", connection=runtime.redis)
    assert retried.meta["awaiting_since"] == since
    assert _scheduled_with(app, "slow-2-wait18", 600, ran)  # the platform named no interval


def test_a_wait_past_the_deadline_stops_as_uncertain_not_failed(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    since = time.time() - AWAIT_DEADLINE - 60
    meta = {"waits": 280, "awaiting_since": since, "base_id": "slow-3"}
    enqueue(runtime, "tests.jobs.flaky.still_processing", 300.0, job_id="slow:3", meta=meta)
    _work(app)

    assert FailedJobRegistry(queue=runtime.queue).get_job_ids() == ["slow-3"]
    failure = Job.fetch("slow-3", connection=runtime.redis).latest_result().exc_string or ""
    assert "Uncertain" in failure and "had not answered 48 hours" in failure
    assert ScheduledJobRegistry(queue=runtime.queue).get_job_ids() == []


def test_a_job_that_lost_a_key_to_another_is_tried_again(app: Flask) -> None:
    """Two jobs storing the same customer at once: the slower one's insert meets the other's
    key. It is no failure of the work: rolled back, it is tried again after the first
    backoff, and that try finds the row."""
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Racing Co")
        store = merchants.link_store(session, runtime.vault, merchant, "sandbox", "race.test")
        session.add(models.Customer(store_id=store.id, external_id="c-7"))
    enqueue(runtime, "tests.jobs.flaky.customer_twice", "c-7", job_id="race:1")
    ran = _work(app)

    job = Job.fetch("race-1", connection=runtime.redis)
    assert job.get_status() == JobStatus.FINISHED
    assert "wrote the same key first" in job.return_value()["error"]
    assert _scheduled_with(app, "race-1-retry1", BACKOFF_SECONDS[0], ran)
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(models.Customer)) == 1


def test_a_write_that_is_wrong_is_not_tried_again(app: Flask) -> None:
    """A constraint the work itself breaks (a store without its merchant) is a bug, not a
    race: the job fails for staff to see, with nothing scheduled."""
    runtime = app.extensions["helloword"]
    enqueue(runtime, "tests.jobs.flaky.nameless_store", job_id="wrong:1")
    _work(app)

    assert "wrong-1" in FailedJobRegistry(queue=runtime.queue).get_job_ids()
    assert ScheduledJobRegistry(queue=runtime.queue).get_job_ids() == []
