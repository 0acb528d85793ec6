"""The report lifecycle: a window split to Amazon's limit, a report waited on until it is DONE,
CANCELLED or FATAL, and its document read as a stream of lines, gzipped or not, in the
charset Amazon declares."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from connector.errors import PermanentError, RetryableError
from platforms.amazon import AmazonPlatform, ReportedReturn, RowError, file_lines
from platforms.amazon.reports import (
    FLAT_FILE_RETURNS,
    ReportRunner,
    byte_lines,
    decompressed,
    text_lines,
    windows,
)
from tests.contract.amazon_store import FakeAmazon

from .conftest import GERMANY, Build, FakeTime, fixture_bytes

SINCE = datetime(2025, 7, 1, tzinfo=UTC)
UNTIL = datetime(2025, 7, 20, tzinfo=UTC)


def _runner(adapter: AmazonPlatform, clock: FakeTime, max_wait: float = 600.0) -> ReportRunner:
    return ReportRunner(adapter.api, clock=clock.time, sleep=clock.sleep, max_wait=max_wait)


# --- windows ------------------------------------------------------------------------------


def test_a_window_within_sixty_days_is_one_report() -> None:
    assert windows(SINCE, UNTIL) == [(SINCE, UNTIL)]


def test_a_longer_window_is_split_into_back_to_back_reports_of_sixty_days() -> None:
    until = SINCE + timedelta(days=150)

    found = windows(SINCE, until)

    assert [(start.date().isoformat(), end.isoformat()) for start, end in found] == [
        ("2025-07-01", "2025-08-29T23:59:59+00:00"),
        ("2025-08-30", "2025-10-28T23:59:59+00:00"),
        ("2025-10-29", "2025-11-28T00:00:00+00:00"),
    ]
    assert all(end - start < timedelta(days=60) for start, end in found)


def test_an_empty_window_asks_for_nothing() -> None:
    assert windows(UNTIL, UNTIL) == []
    assert windows(UNTIL, SINCE) == []


# --- lifecycle ----------------------------------------------------------------------------


def test_a_done_report_is_read_line_by_line(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(fixture_bytes("fba_customer_returns.tsv"))
    amazon.report_polls_pending = 2

    text = _runner(adapter, clock).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])

    lines = list(text.lines)
    assert lines[0].startswith("return-date\torder-id\tsku")
    assert len(lines) == 5
    assert text.reason == ""
    assert clock.sleeps == [5.0, 10.0]  # polled again, less and less often


def test_the_report_is_asked_for_its_window_and_marketplaces(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(b"return-date\torder-id\n")

    report_id = _runner(adapter, clock).request(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])

    report = amazon.reports[report_id]
    assert report["reportType"] == "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
    assert report["marketplaceIds"] == [GERMANY]
    assert report["dataStartTime"] == "2025-07-01T00:00:00Z"
    assert report["dataEndTime"] == "2025-07-20T00:00:00Z"


def test_a_report_already_being_built_for_the_window_is_reused(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(b"header\n")
    runner = _runner(adapter, clock)
    first = runner.request(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])

    again = runner.request(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])
    other = runner.request(FLAT_FILE_RETURNS, SINCE, UNTIL + timedelta(days=1), [GERMANY])

    assert again == first
    assert other != first
    assert amazon.calls.count("createReport") == 2


def test_a_cancelled_report_is_empty_and_says_why(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(b"", status="CANCELLED")

    text = _runner(adapter, clock).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])

    assert list(text.lines) == []
    assert "cancelled" in text.reason and "no data" in text.reason


def test_a_fatal_report_is_permanent_with_amazons_error_text(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(
        b"The report could not be generated: the requested date range exceeds 60 days.\n",
        status="FATAL",
    )

    with pytest.raises(PermanentError, match="requested date range exceeds 60 days"):
        _runner(adapter, clock).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])


def test_a_fatal_report_without_a_document_is_permanent_all_the_same(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(b"", status="FATAL")

    with pytest.raises(PermanentError, match="could not build report"):
        _runner(adapter, clock).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])


def test_a_report_still_building_after_the_wait_is_left_to_a_retry(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(b"header\n")
    amazon.report_polls_pending = 100

    with pytest.raises(RetryableError, match="IN_PROGRESS") as raised:
        _runner(adapter, clock, max_wait=60.0).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])
    assert raised.value.retry_after == 60.0
    assert sum(clock.sleeps) <= 60.0


def test_a_gzipped_document_is_unzipped_as_it_streams(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(fixture_bytes("fba_customer_returns.tsv"), gzip=True)

    text = _runner(adapter, clock).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])

    assert list(text.lines) == fixture_bytes("fba_customer_returns.tsv").decode().splitlines()


def test_the_declared_charset_decodes_the_document(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report("header\nCafé crème\n".encode("cp1252"), charset="windows-1252")

    text = _runner(adapter, clock).fetch(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY])

    assert list(text.lines) == ["header", "Café crème"]


def test_a_document_download_that_fails_is_reported(
    adapter: AmazonPlatform, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(b"header\n")
    runner = _runner(adapter, clock)
    report = runner.wait(runner.request(FLAT_FILE_RETURNS, SINCE, UNTIL, [GERMANY]))
    text = runner.text(report)
    del amazon.documents[report.document_id]  # the presigned URL has expired

    with pytest.raises(PermanentError, match="HTTP 403"):
        list(text.lines)


def test_an_import_reads_every_report_of_every_window(
    build: Build, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(fixture_bytes("returns_flat_file.tsv"), charset="")
    amazon.queue_report(fixture_bytes("fba_customer_returns.tsv"))
    adapter = build(settings={"fba": True})

    rows = list(adapter.iter_return_rows(SINCE, UNTIL))

    returns = [row for _, row in rows if isinstance(row, ReportedReturn)]
    errors = [row for _, row in rows if isinstance(row, RowError)]
    assert {r.fulfilment for r in returns} == {"MFN", "FBA"}
    assert len(returns) == 8 and len(errors) == 6
    kinds = [amazon.reports[r]["reportType"] for r in sorted(amazon.reports)]
    assert kinds == [FLAT_FILE_RETURNS, "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"]


def test_the_requests_alone_skip_the_rows_that_cannot_be_read(
    build: Build, amazon: FakeAmazon, clock: FakeTime
) -> None:
    amazon.queue_report(fixture_bytes("returns_flat_file.tsv"), charset="")
    adapter = build()

    requests = list(adapter.iter_return_requests(SINCE))

    assert [r.external_id for r in requests] == [
        "DfqRyqfBRRMA",
        "Dm8pXzRMA6",
        "Dq2rTuRMA7",
        "Dx7aBcRMA9",
        "Dz9cDeRMA10",
    ]
    report = next(iter(amazon.reports.values()))
    assert report["dataEndTime"] == "2025-07-08T18:00:00Z"  # the last full hour


def test_an_account_without_marketplaces_imports_those_it_takes_part_in(
    build: Build, amazon: FakeAmazon
) -> None:
    amazon.participations = [GERMANY, "A13V1IB3VIYZZH", "ATVPDKIKX0DER"]
    adapter = build(settings={"marketplace_ids": []})

    reports = adapter.request_returns_reports(SINCE, UNTIL)

    assert [r.marketplace_id for r in reports] == [GERMANY, "A13V1IB3VIYZZH"]


# --- bytes to lines -----------------------------------------------------------------------


def test_lines_are_split_wherever_the_chunks_break() -> None:
    chunks = [b"first\r", b"\nsec", b"ond\nthi", b"rd"]

    assert list(byte_lines(chunks)) == [b"first\r", b"second", b"third"]


def test_text_without_a_charset_is_utf8_falling_back_to_windows_1252_by_line() -> None:
    lines = ["\ufeffheader".encode(), "Grüße".encode(), "Caf\xe9".encode("cp1252")]

    assert list(text_lines(lines)) == ["header", "Grüße", "Café"]


def test_a_saved_report_is_read_plain_or_gzipped() -> None:
    content = fixture_bytes("fba_customer_returns.tsv")

    plain = list(file_lines(io.BytesIO(content)))
    zipped = list(file_lines(io.BytesIO(gzip.compress(content))))

    assert plain == zipped == content.decode().splitlines()


def test_a_broken_gzip_is_permanent() -> None:
    with pytest.raises(PermanentError, match="gzip"):
        list(decompressed([b"\x1f\x8bnot really gzip"]))


def test_a_document_url_that_is_refused_is_permanent(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    with pytest.raises(PermanentError, match="HTTP 403"):
        adapter.api.open_document("https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/missing")


def test_a_document_url_that_fails_for_now_is_retryable(
    adapter: AmazonPlatform, router: respx.MockRouter
) -> None:
    router.get("https://example-docs.test/doc").mock(return_value=httpx.Response(503))

    with pytest.raises(RetryableError):
        adapter.api.open_document("https://example-docs.test/doc")
