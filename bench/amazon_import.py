"""Benchmark: an Amazon returns report imported from a file, beside a plain ``csv.DictReader``
pass over the same file, in the same run, on SQLite and on PostgreSQL.

    .venv/bin/python bench/amazon_import.py [--rows 100000] [--sqlite-only]

It writes a returns report of ``--rows`` rows (streamed to a temporary file: open RMAs, RMAs
over two SKUs, refunded and closed ones, a few malformed rows), times a plain read of it (the
median of five, around the import), and imports it into a fresh database the way ``helloword
amazon import --file`` does (parsed, stored in batches, each batch's jobs queued on Redis) in
a child process that reports its peak memory (and that of the process it forks: SQLite's
builder, PostgreSQL's writer). It prints rows per second for both, the ratio
import ÷ plain read (the target is 0.10 or more) and the import's peak resident memory (the
target is under 300 MiB, whatever the size). PostgreSQL is a scratch database
``helloword_bench_amazon`` on HELLOWORD_BENCH_PG (default the local server), dropped
afterwards; Redis is HELLOWORD_BENCH_REDIS (default the local server's database 13), flushed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

PG = os.environ.get("HELLOWORD_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("HELLOWORD_BENCH_REDIS", "redis://127.0.0.1:6379/13")
MARKETPLACE = "A1PA6795UKMFR9"  # amazon.de
SELLER = "A2BENCHSELLER01"
PG_NAME = "helloword_bench_amazon"
HEADER = (
    "Order ID\tOrder date\tReturn request date\tReturn request status\tAmazon RMA ID\t"
    "Merchant RMA ID\tLabel type\tLabel cost\tCurrency code\tReturn carrier\tTracking ID\t"
    "Label to be paid by\tA-to-Z Claim\tIs prime\tASIN\tMerchant SKU\tItem Name\t"
    "Return quantity\tReturn Reason\tIn policy\tReturn type\tResolution\tInvoice number\t"
    "Return delivery date\tOrder Amount\tOrder quantity\tSafeT Action reason\tSafeT claim id\t"
    "SafeT claim state\tSafeT claim creation time\tSafeT claim reimbursement amount\t"
    "Refunded Amount"
)
REASONS = ("CR-UNWANTED_ITEM", "CR-DEFECTIVE", "AMZ-PG-APP-TOO-SMALL", "CR-SWITCHEROO")
MONTHS = ("Jun", "Jul", "Aug")


def write_report(path: Path, rows: int) -> None:
    """A seller-fulfilled returns report as Seller Central gives it, row by row."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        number = 0
        rma = 0
        while number < rows:
            rma += 1
            order = f"302-{rma:07d}-{rma * 7919 % 10_000_000:07d}"
            day = 1 + rma % 27
            month = MONTHS[rma % len(MONTHS)]
            kind = rma % 20
            status, refunded, delivered = "Approved", "", ""
            if kind < 5:  # refunded by Amazon already
                status, refunded, delivered = "Closed", "24.95", f"{day + 1:02d}-{month}-2025"
            elif kind < 7:
                status = "Closed"
            skus = 2 if kind in (8, 9) else 1  # an RMA over two SKUs: two rows
            for part in range(skus):
                if number >= rows:
                    break
                number += 1
                sku = f"SKU-{(rma + part) % 900:04d}"
                quantity = "x" if kind == 19 and part == 0 else "1"  # a malformed row
                fields = [
                    order,
                    f"{day:02d}-{month}-2025",
                    f"{day + 1:02d}-{month}-2025",
                    status,
                    f"D{rma:09d}RMA",
                    "",
                    "AmazonPrePaidLabel",
                    "4.14",
                    "EUR",
                    "DHL",
                    f"00340434{rma:012d}",
                    "Seller",
                    "N",
                    "Y" if rma % 3 else "N",
                    f"B0{rma % 99_999_999:08d}",
                    sku,
                    f"Linen shirt {sku}",
                    quantity,
                    REASONS[rma % len(REASONS)],
                    "Y",
                    "C-Returns",
                    "StandardRefund",
                    "",
                    delivered,
                    "24.95",
                    "1",
                    "",
                    "",
                    "",
                    "",
                    "",
                    refunded,
                ]
                out.write("\t".join(fields) + "\n")


def plain_read(path: Path) -> tuple[int, float]:
    """The baseline: every row of the file as a dict, nothing else."""
    started = time.perf_counter()
    count = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for _ in csv.DictReader(handle, delimiter="\t"):
            count += 1
    return count, time.perf_counter() - started


def fresh_postgres() -> str:
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
    admin.dispose()
    return PG.rsplit("/", 1)[0] + f"/{PG_NAME}"


def drop_postgres() -> None:
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
    admin.dispose()


def child(database_url: str, report: str) -> None:
    """Import the report into a fresh database, as ``helloword amazon import --file`` does,
    and print the time and memory it took as JSON."""
    from cryptography.fernet import Fernet
    from redis import Redis
    from rq import Queue

    from connector.crypto import Vault
    from connector.db import Database
    from connector.services import amazon_import, merchants
    from migrations import upgrade
    from platforms.amazon import file_lines, parse_returns_report

    upgrade(database_url)
    db = Database(database_url)
    with db.transaction() as session:
        merchant = merchants.create_merchant(session, "Bench Outfitters", "EUR")
        store = merchants.link_store(
            session,
            Vault((Fernet.generate_key().decode(),)),
            merchant,
            "amazon",
            SELLER,
            secrets={"refresh_token": "Atzr|bench"},
            settings={"region": "eu", "marketplace_ids": [MARKETPLACE]},
        )
        store_id = store.id
    redis = Redis.from_url(REDIS)
    redis.flushdb()
    queue = Queue("helloword-bench", connection=redis)
    queued = 0

    def enqueue(batch: amazon_import.Batch) -> None:
        nonlocal queued
        for follow_up in batch.follow_ups:
            queue.enqueue(
                f"connector.jobs.{follow_up.job}",
                *follow_up.args,
                job_id=follow_up.job_id.replace(":", "-"),
            )
            queued += 1

    errors = 0

    def skipped(_: object) -> None:
        nonlocal errors
        errors += 1

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with open(report, "rb") as handle:
        summary = amazon_import.import_rows(
            db,
            store_id,
            parse_returns_report(file_lines(handle), MARKETPLACE),
            on_error=skipped,
            on_batch=enqueue,
        )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    forked = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # builder or writer
    redis.flushdb()
    db.dispose()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "summary": summary.as_dict(),
                "jobs": queued,
                "peak_kib": peak,
                "forked_kib": forked,
                "before_kib": before,
            }
        )
    )


def measure(name: str, database_url: str, report: Path, rows: int) -> None:
    """The plain read three times before the import and twice after, and their median: a
    pass takes well under a second, and swings with whatever else the machine does."""
    reads = [plain_read(report) for _ in range(3)]
    output = subprocess.run(
        [sys.executable, __file__, "--child", database_url, str(report)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    reads += [plain_read(report) for _ in range(2)]
    assert all(count == rows for count, _ in reads), f"a plain read missed rows of {rows}"
    plain = sorted(seconds for _, seconds in reads)[len(reads) // 2]
    result = json.loads(output.strip().splitlines()[-1])
    summary = result["summary"]
    assert summary["rows"] == rows, f"the import saw {summary['rows']} rows of {rows}"
    plain_rate = rows / plain
    import_rate = rows / result["seconds"]
    forked = result["forked_kib"]
    both = f" + its forked process {forked / 1024:.0f} MiB" if forked else ""
    print(
        f"{name:<10} plain csv.DictReader {plain_rate:>10,.0f} rows/s | import "
        f"{import_rate:>8,.0f} rows/s | ratio {import_rate / plain_rate:.3f} | peak "
        f"{result['peak_kib'] / 1024:.0f} MiB "
        f"(+{(result['peak_kib'] - result['before_kib']) / 1024:.0f} MiB during the import)"
        f"{both}"
    )
    print(
        f"{'':<10} {summary['returns_new']:,} returns ({summary['returns_open']:,} open, "
        f"{summary['returns_history']:,} settled), {summary['orders_new']:,} orders, "
        f"{summary['errors']:,} rows skipped, {result['jobs']:,} jobs queued"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument(
        "--child", nargs=2, metavar=("DATABASE_URL", "REPORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "returns.tsv"
        write_report(report, args.rows)
        size = report.stat().st_size / 1024 / 1024
        print(f"{args.rows:,} report rows, {size:.1f} MiB")
        measure("SQLite", f"sqlite:///{Path(folder) / 'bench.sqlite3'}", report, args.rows)
        if not args.sqlite_only:
            try:
                measure("PostgreSQL", fresh_postgres(), report, args.rows)
            finally:
                drop_postgres()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
