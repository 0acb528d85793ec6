"""Benchmark: returns carried end to end per second by one RQ worker, beside the throughput of
no-op jobs on the same worker and the same Redis, in the same run.

    .venv/bin/python bench/pipeline.py [--returns 50] [--noop 2000] [--sqlite]

By default it uses PostgreSQL (a scratch database ``helloword_bench`` on
HELLOWORD_BENCH_PG, default the local server) and the local Redis (database 14); ``--sqlite``
uses a SQLite file and the embedded Redis instead. The ratio ``noop jobs/s ÷ returns/s`` says
how many no-op jobs' worth of time one return costs; ``jobs per return`` says how many of that
is queue overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue, Worker
from rq.registry import FinishedJobRegistry
from sqlalchemy import create_engine, text

from connector import create_app
from connector.config import Settings
from connector.demo import run_demo
from migrations import upgrade

PG = os.environ.get("HELLOWORD_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_postgres() -> str:
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "helloword_bench" WITH (FORCE)'))
        connection.execute(text('CREATE DATABASE "helloword_bench"'))
    admin.dispose()
    return PG.rsplit("/", 1)[0] + "/helloword_bench"


def wait_for_workers(queue: Queue, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(Worker.all(queue=queue)) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not start")
        time.sleep(0.05)


def drain(queue: Queue, expected: int) -> None:
    registry = FinishedJobRegistry(queue=queue)
    while registry.count < expected:
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=50)
    parser.add_argument("--noop", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="helloword-bench-"))
    if args.sqlite:
        database_url, redis_url = f"sqlite:///{instance / 'bench.sqlite3'}", ""
    else:
        database_url, redis_url = fresh_postgres(), "redis://127.0.0.1:6379/14"
        Redis.from_url(redis_url).flushdb()
    upgrade(database_url)
    settings = Settings(
        instance_path=instance,
        database_url=database_url,
        redis_url=redis_url,
        secret_key="bench",
        encryption_keys=(Fernet.generate_key().decode(),),
    )
    app = create_app(settings)
    runtime = app.extensions["helloword"]
    queue = runtime.queue
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": runtime.redis_url,
        "HELLOWORD_INSTANCE": str(instance),
        "HELLOWORD_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "SECRET_KEY": settings.secret_key,
    }
    worker = subprocess.Popen([sys.executable, "-m", "connector.cli", "worker"], env=env)
    try:
        wait_for_workers(queue, 1)

        # baseline: no-op jobs through the same worker and Redis
        started = time.perf_counter()
        for n in range(args.noop):
            queue.enqueue("connector.jobs.noop", n, result_ttl=600)
        drain(queue, args.noop)
        noop_seconds = time.perf_counter() - started

        # the pipeline: returns from webhook to close
        with app.app_context():
            summary = run_demo(
                runtime,
                args.returns,
                workers=0,
                labels_dir=instance / "labels",
                timeout=1800,
                progress=False,
                app=app,
            )
        finished = FinishedJobRegistry(queue=queue).count - args.noop
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        runtime.close()

    returns_per_second = args.returns / summary.seconds
    noop_per_second = args.noop / noop_seconds
    report = {
        "database": "sqlite" if args.sqlite else "postgresql",
        "redis": "embedded" if args.sqlite else "local server",
        "returns": args.returns,
        "unfinished": summary.unfinished,
        "pipeline_seconds": round(summary.seconds, 2),
        "returns_per_second": round(returns_per_second, 2),
        "noop_jobs": args.noop,
        "noop_seconds": round(noop_seconds, 2),
        "noop_jobs_per_second": round(noop_per_second, 1),
        "pipeline_jobs": finished,
        "jobs_per_return": round(finished / args.returns, 2),
        "ratio_noop_jobs_per_return_time": round(noop_per_second / returns_per_second, 2),
        "statuses": summary.as_dict()["statuses"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
