"""Periodic work, declared in one place for ``rq cron connector.cron``.

The cron scheduler only enqueues; the jobs run on the ordinary workers, inside the app.
"""

from __future__ import annotations

import os

from rq import cron

from . import jobs

QUEUE = os.environ.get("HELLOWORD_QUEUE", "helloword")

cron.register(jobs.sweep_outbox, QUEUE, interval=60, name="sweep_outbox")
cron.register(jobs.expire_stale_returns, QUEUE, interval=3600, name="expire_stale_returns")
cron.register(jobs.poll_tracking, QUEUE, interval=1800, name="poll_tracking")
cron.register(jobs.schedule_amazon_imports, QUEUE, interval=3600, name="schedule_amazon_imports")
