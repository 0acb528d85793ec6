"""Amazon reports from request to text: a window asked for, waited on, and read as a stream.

Amazon builds a report asynchronously (Reports API 2021-06-30): ``createReport`` for a type,
its marketplaces and a data window answers a ``reportId``; ``getReport`` says IN_QUEUE or
IN_PROGRESS until it is DONE (with a ``reportDocumentId``), CANCELLED (Amazon cancels a report
that has no data, or it was cancelled before it started) or FATAL (it failed; the document, if
any, says why). ``getReportDocument`` gives a presigned URL and, for compressed documents,
``compressionAlgorithm: GZIP``.

Here a window longer than Amazon allows is split into reports of at most ``MAX_SPAN``; waiting
polls with a growing interval and gives up after ``max_wait`` with ``RetryableError`` (the
report keeps being built, and the next attempt finds it again through ``getReports`` instead
of asking for a new one). The document is downloaded as a stream, unzipped and split into
lines as the bytes arrive, and each line decoded in the charset the download declares; a
report with no declared charset is read as UTF-8, line by line falling back to Windows-1252,
the two encodings Amazon's flat files come in. Nothing holds more than a line and a chunk.
"""

from __future__ import annotations

import codecs
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from connector.errors import PermanentError, RetryableError

from .spapi import SellingPartnerApi

FLAT_FILE_RETURNS = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
FBA_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
MAX_SPAN = timedelta(days=60)  # the most data one returns report may cover
PENDING = ("IN_QUEUE", "IN_PROGRESS")
REUSABLE = ("IN_QUEUE", "IN_PROGRESS", "DONE")
REUSE_LOOKBACK = timedelta(hours=12)  # how far back a report for the same window is looked for
FIRST_POLL = 5.0  # seconds before the first status check; doubled up to MAX_POLL
MAX_POLL = 60.0
ERROR_TEXT_LIMIT = 2000  # characters of a FATAL report's document quoted in the error
FILE_CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
FALLBACK_ENCODING = "cp1252"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Report:
    """A report as ``getReport`` describes it."""

    report_id: str
    report_type: str
    status: str  # IN_QUEUE | IN_PROGRESS | DONE | CANCELLED | FATAL
    document_id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    marketplace_ids: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, payload: dict[str, object]) -> Report:
        ids = payload.get("marketplaceIds")
        return cls(
            report_id=str(payload.get("reportId") or ""),
            report_type=str(payload.get("reportType") or ""),
            status=str(payload.get("processingStatus") or ""),
            document_id=str(payload.get("reportDocumentId") or ""),
            start=_parse_time(payload.get("dataStartTime")),
            end=_parse_time(payload.get("dataEndTime")),
            marketplace_ids=tuple(str(i) for i in ids) if isinstance(ids, list) else (),
        )

    @property
    def finished(self) -> bool:
        return self.status not in PENDING


@dataclass(slots=True)
class ReportText:
    """A finished report's lines, streamed; empty, with ``reason`` saying why, when Amazon
    cancelled it."""

    report: Report
    lines: Iterator[str] = field(default_factory=lambda: iter(()))
    reason: str = ""


def windows(
    since: datetime, until: datetime, span: timedelta = MAX_SPAN
) -> list[tuple[datetime, datetime]]:
    """``[since, until]`` cut into back-to-back windows no longer than ``span`` (each ends a
    second before the next begins, so none counts a day twice)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("report windows need timezone-aware times")
    found, start = [], since
    while start < until:
        end = min(until, start + span - timedelta(seconds=1))
        found.append((start, end))
        start += span
    return found


class ReportRunner:
    """The report lifecycle for one seller."""

    def __init__(
        self,
        api: SellingPartnerApi,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 600.0,
    ) -> None:
        self.api = api
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait

    def fetch(
        self, report_type: str, start: datetime, end: datetime, marketplace_ids: Sequence[str]
    ) -> ReportText:
        """Request (or find) the report, wait for it, and open its text."""
        report_id = self.request(report_type, start, end, marketplace_ids)
        return self.text(self.wait(report_id))

    def request(
        self, report_type: str, start: datetime, end: datetime, marketplace_ids: Sequence[str]
    ) -> str:
        """The id of a report of this type, window and marketplaces: one Amazon is building or
        has built in the last hours, else a new one."""
        existing = self._existing(report_type, start, end, marketplace_ids)
        if existing:
            log.info("reusing Amazon report %s for %s %s–%s", existing, report_type, start, end)
            return existing
        return self.api.create_report(report_type, start, end, marketplace_ids)

    def status(self, report_id: str) -> Report:
        return Report.from_api(self.api.get_report(report_id))

    def wait(self, report_id: str) -> Report:
        """The report once it is finished; ``RetryableError`` if it is still being built after
        ``max_wait`` seconds."""
        waited, interval = 0.0, FIRST_POLL
        while True:
            report = self.status(report_id)
            if report.finished:
                return report
            if waited + interval > self.max_wait:
                raise RetryableError(
                    f"Amazon report {report_id} is still {report.status} after {waited:.0f} s",
                    retry_after=MAX_POLL,
                )
            self._sleep(interval)
            waited += interval
            interval = min(MAX_POLL, interval * 2)

    def text(self, report: Report) -> ReportText:
        """A finished report's lines. CANCELLED: no lines, and the reason. FATAL:
        ``PermanentError`` quoting the report's document when Amazon left one."""
        if report.status == "DONE":
            if not report.document_id:
                raise RetryableError(f"Amazon report {report.report_id} is DONE without a document")
            return ReportText(report, self.lines(report.document_id))
        if report.status == "CANCELLED":
            reason = (
                f"Amazon cancelled report {report.report_id}: it had no data for the window, "
                "or was cancelled before it started"
            )
            return ReportText(report, reason=reason)
        if report.status == "FATAL":
            detail = self._error_text(report.document_id) if report.document_id else ""
            raise PermanentError(
                f"Amazon could not build report {report.report_id} ({report.report_type})"
                + (f": {detail}" if detail else "")
            )
        raise PermanentError(f"Amazon report {report.report_id} is {report.status!r}")

    def lines(self, document_id: str) -> Iterator[str]:
        """The report document's lines, decoded, as they download."""
        document = self.api.report_document(document_id)
        url = str(document.get("url") or "")
        if not url:
            raise RetryableError(f"Amazon gave report document {document_id} no URL")
        return self._stream(url, str(document.get("compressionAlgorithm") or ""))

    def _stream(self, url: str, compression: str) -> Iterator[str]:
        download = self.api.open_document(url)
        try:
            chunks = decompressed(download.chunks(), compression)
            yield from text_lines(byte_lines(chunks), download.charset)
        finally:
            download.close()

    def _error_text(self, document_id: str) -> str:
        text, size = [], 0
        for line in self.lines(document_id):
            text.append(line)
            size += len(line) + 1
            if size >= ERROR_TEXT_LIMIT:
                break
        return "\n".join(text)[:ERROR_TEXT_LIMIT].strip()

    def _existing(
        self, report_type: str, start: datetime, end: datetime, marketplace_ids: Sequence[str]
    ) -> str:
        since = datetime.fromtimestamp(self._clock(), UTC) - REUSE_LOOKBACK
        wanted = set(marketplace_ids)
        for payload in self.api.get_reports(report_type, since, REUSABLE, marketplace_ids):
            report = Report.from_api(payload)
            same_window = report.start == start and report.end == end
            if same_window and set(report.marketplace_ids) == wanted and report.report_id:
                return report.report_id
        return ""


# --- bytes to lines -----------------------------------------------------------------------


def decompressed(chunks: Iterable[bytes], compression: str = "") -> Iterator[bytes]:
    """The chunks unzipped when ``compression`` is GZIP, or when they start with gzip's magic
    number (a report saved from Seller Central as ``.gz``)."""
    iterator = iter(chunks)
    first = next(iterator, b"")
    if compression.upper() != "GZIP" and not first.startswith(GZIP_MAGIC):
        if first:
            yield first
        yield from iterator
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for chunk in _chain(first, iterator):
            data = inflater.decompress(chunk)
            if data:
                yield data
        tail = inflater.flush()
    except zlib.error as exc:
        raise PermanentError(f"the Amazon report is not valid gzip: {exc}") from exc
    if tail:
        yield tail


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def byte_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes split at line feeds (a carriage return before one stays, for the reader)."""
    pending = b""
    for chunk in chunks:
        if pending:
            chunk = pending + chunk
        parts = chunk.split(b"\n")
        pending = parts.pop()
        yield from parts
    if pending:
        yield pending


def text_lines(lines: Iterable[bytes], encoding: str | None = None) -> Iterator[str]:
    """Each line decoded: in ``encoding`` when one is declared (undecodable bytes become
    U+FFFD), else as UTF-8 with a fall back to Windows-1252 for a line that is not. A byte
    order mark before the first line is dropped."""
    decode = _decoder(encoding)
    first = True
    for line in lines:
        text = decode(line)
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def file_lines(file: BinaryIO, encoding: str | None = None) -> Iterator[str]:
    """The lines of a report saved from Seller Central (plain or gzipped), streamed."""
    chunks = iter(lambda: file.read(FILE_CHUNK), b"")
    yield from text_lines(byte_lines(decompressed(chunks)), encoding)


def _decoder(encoding: str | None) -> Callable[[bytes], str]:
    name = (encoding or "").strip().lower()
    if name in ("windows-31j", "ms932"):
        name = "cp932"
    if name and name not in ("utf-8", "utf8"):
        try:
            codecs.lookup(name)
        except LookupError:
            log.warning("Amazon declared an unknown charset %r; reading the report as UTF-8", name)
        else:
            return lambda line: line.decode(name, "replace")
    return _utf8_or_windows


def _utf8_or_windows(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode(FALLBACK_ENCODING, "replace")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
