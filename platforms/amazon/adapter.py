"""The Amazon platform adapter: Helloword's ports over one seller account's Selling Partner API.

It orchestrates, nothing more: ``lwa`` links accounts, ``spapi`` talks to Amazon (throttled by
``throttle``), ``reports`` runs reports, ``returns_report`` reads them, ``mapper`` and
``feeds`` convert, ``receipts`` remembers what was asked of Amazon.

Credentials: ``external_id`` is the seller's ``selling_partner_id``. ``secrets``:
``refresh_token`` (the seller's), and the app's LWA client, ``lwa_app_id`` and
``lwa_client_secret``, which the app adds from its own configuration (they are the app's, the
same for every seller, and rotate every 180 days, so they are not stored per account).
``settings``: ``region`` (na | eu | fe, required), ``marketplace_ids`` (the marketplaces to
import returns from; default: those the seller participates in, in the region), ``fba`` (also
import FBA customer returns; default false), ``inventory_marketplace_id`` (where restocks set
the listing quantity; default the first marketplace), ``application_id`` and ``draft`` (for the
consent URL), ``sandbox`` (Amazon's static sandbox), ``order_data`` (the Orders API's
``includedData``), ``report_wait`` (seconds an import waits on a report) and ``refund_batch``
(seconds the seller's batch gathers refunds before its feed goes; default 60).

What each port does on Amazon:

- Linker: the website authorization workflow (``lwa``); ``complete`` gives the seller's
  refresh token and region. The ``state`` check is the app's.
- OrderSource: Orders API 2026-01-01. Order lines are keyed by SKU, like the returns report's.
- ReturnSource: the returns report(s) since a time, per marketplace, in windows of at most 60
  days, parsed as they download. ``iter_return_rows`` gives each row with its stub order and
  line number, or its error; ``iter_return_requests`` only the requests, errors logged.
- ReturnPublisher: ``refund`` by payment adjustment feed, idempotent by key through receipts.
  A refund joins the seller's batch and answers ``AwaitingPlatform``; the job that sends the
  batch takes it (``take_queued_refunds``) and submits it as one feed (``submit_refunds``), and
  the refund's next tries read the processing report back (``feed_result``, which settles every
  refund of the feed). Amazon has no API to approve, decline, label, dispose of or close a
  seller-fulfilled return: those pushes answer ``PushResult(details={"skipped": why})`` and
  change nothing.
- RefundTracker: ``refund_status`` says where a refund stands, so nobody asks again for one
  Amazon may still make; ``settle_refund`` records what a person found in Seller Central.
- InventoryPublisher: ``restock`` adds to the listing's seller-fulfilled quantity
  (``patchListingsItem``), after reading it.

An expired or revoked refresh token surfaces from any call as ``NeedsRelinking``.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from connector.domain import Money, Order, ReturnRequest
from connector.errors import (
    AwaitingPlatform,
    NothingToDo,
    PermanentError,
    RetryableError,
    Uncertain,
)
from connector.ports import AdapterContext, Credentials, PushResult

from . import feeds, lwa, mapper, marketplaces, reports
from .feeds import Fate
from .lwa import NeedsRelinking
from .receipts import Receipts, RefundReceipt, RefundState
from .returns_report import ParsedRow, ReportFormatError, RowError, parse_returns_report
from .spapi import TIMEOUT, MaybeDone, SellingPartnerApi
from .throttle import Throttle

DEFAULT_ORDER_DATA = ("RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES")
REFUND_ORDER_DATA = ("PROCEEDS",)
REPORT_WAIT = 600.0  # seconds an import waits for a report before leaving it to a retry
REFUND_BATCH = 60.0  # seconds a seller's batch gathers refunds before its feed goes
REFUND_RECHECK = 300.0  # seconds between two looks at a refund Amazon has not settled
FEED_RETRY = 120.0  # seconds a job should wait before asking again about a pending feed
STALE_CLAIM = 600.0  # seconds after which a refund left SUBMITTING is taken as abandoned
STALE_BATCH = 900.0  # seconds after which a refund still QUEUED is taken as left behind
QUEUE_LIMIT = 24 * 3600.0  # seconds a refund may wait to be sent before it fails, never sent
CLOCK_SKEW = 300.0  # seconds of leeway when asking Amazon for feeds created since a claim
MAX_FEED_REPORT = 10 * 1024 * 1024  # bytes of processing report read at most
PENDING_FEED = ("IN_QUEUE", "IN_PROGRESS")

_NO_API = {
    "approve": "Amazon has no API to authorise a seller-fulfilled return: Amazon authorises it "
    "itself, or the seller does in Seller Central's Manage Returns",
    "decline": "Amazon has no API to decline a return request: the seller closes it in Seller "
    "Central's Manage Returns",
    "attach_label": "Amazon has no API to give a return the seller's own label: the buyer uses "
    "Amazon's label, or the seller uploads one in Manage Returns",
    "dispose": "Amazon keeps no record of what became of a seller-fulfilled return's goods; "
    "restocked units reach the listing through restock",
    "close": "Amazon closes a return request itself once it is refunded",
}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefundLine:
    """One refund for a payment adjustment feed: ``amount`` (in the order's currency) for
    ``lines`` of ``(SKU, quantity)`` of the order."""

    idempotency_key: str
    order_external_id: str
    amount: Money
    lines: tuple[tuple[str, int], ...]
    return_external_id: str = ""
    reason: str = feeds.DEFAULT_REASON


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What a payment adjustment feed did with one refund."""

    idempotency_key: str
    ok: bool
    message: str
    message_id: int
    state: RefundState  # ISSUED, FAILED, or UNCERTAIN (a person must check Seller Central)


@dataclass(frozen=True, slots=True)
class ReturnsReport:
    """A returns report requested for one marketplace and window."""

    report_id: str
    report_type: str
    marketplace_id: str
    start: datetime
    end: datetime


class FeedPending(RetryableError):
    """Amazon has not finished processing the feed yet."""


class AmazonPlatform:
    """One Amazon seller account in one region, through the platform ports."""

    slug = "amazon"

    def __init__(
        self,
        credentials: Credentials,
        context: AdapterContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = credentials.settings
        self.seller_id = credentials.external_id.strip()
        try:
            self.region = marketplaces.region_of(settings.get("region"))
            self._marketplace_ids = _marketplace_ids(settings.get("marketplace_ids"))
            self.inventory_marketplace = str(settings.get("inventory_marketplace_id") or "")
            if self.inventory_marketplace:
                marketplaces.marketplace(self.inventory_marketplace)
        except ValueError as exc:
            raise PermanentError(f"Amazon account {self.seller_id or '(new)'}: {exc}") from exc
        self.fba = bool(settings.get("fba", False))
        self.application_id = str(settings.get("application_id") or "")
        self.draft = bool(settings.get("draft", False))
        self.sandbox = bool(settings.get("sandbox", False))
        self.order_data = tuple(settings.get("order_data") or DEFAULT_ORDER_DATA)
        self.report_wait = float(settings.get("report_wait") or REPORT_WAIT)
        self.refund_batch = float(settings.get("refund_batch") or REFUND_BATCH)
        self._secrets = credentials.secrets
        lent = context.http if isinstance(context.http, httpx.Client) else None
        self._http = lent or httpx.Client(timeout=TIMEOUT)
        self._sleep = sleep
        self._clock = clock
        seller_key = f"{self.region}:{self.seller_id}"
        self.receipts = Receipts(seller_key, context.redis)
        self.throttle = Throttle(seller_key, context.redis, clock=clock, sleep=sleep)
        self._lwa: lwa.LwaClient | None = None
        self._api: SellingPartnerApi | None = None

    # Linker ------------------------------------------------------------------------------

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        """Seller Central's consent page for the app, in the account's region (or its first
        marketplace's Seller Central, when one is set)."""
        return lwa.consent_url(
            self.application_id,
            state,
            region=self.region,
            redirect_uri=redirect_uri,
            draft=self.draft,
            marketplace_id=self._marketplace_ids[0] if self._marketplace_ids else "",
        )

    def complete(self, params: Mapping[str, str], redirect_uri: str) -> Credentials:
        """The linked account, from the query Amazon sent back: ``selling_partner_id`` and a
        refresh token for ``spapi_oauth_code``."""
        if params.get("error"):
            why = params.get("error_description") or params["error"]
            raise PermanentError(f"Amazon did not authorise the app: {why}")
        seller_id = str(params.get("selling_partner_id") or "").strip()
        if not seller_id:
            raise PermanentError("Amazon's callback carries no selling_partner_id")
        grant = self._lwa_client().exchange_code(
            str(params.get("spapi_oauth_code") or ""), redirect_uri
        )
        settings: dict[str, Any] = {"region": self.region}
        if self._marketplace_ids:
            settings["marketplace_ids"] = list(self._marketplace_ids)
        return Credentials(seller_id, {"refresh_token": grant.refresh_token}, settings)

    def marketplace_participations(self) -> list[dict[str, Any]]:
        """The marketplaces of the region the seller takes part in: ``marketplace_id``,
        ``country``, ``currency``, ``name``, ``participating``."""
        found = []
        for entry in self.api.marketplace_participations():
            market = entry.get("marketplace") if isinstance(entry, Mapping) else None
            if not isinstance(market, Mapping):
                continue
            known = marketplaces.MARKETPLACES.get(str(market.get("id") or ""))
            if known is None or known.region != self.region:
                continue
            participation = entry.get("participation")
            if not isinstance(participation, Mapping):
                participation = {}
            found.append(
                {
                    "marketplace_id": known.marketplace_id,
                    "country": known.country,
                    "currency": str(market.get("defaultCurrencyCode") or known.currency),
                    "name": str(market.get("name") or ""),
                    "participating": bool(participation.get("isParticipating", True)),
                }
            )
        return found

    # OrderSource -------------------------------------------------------------------------

    def fetch_order(self, external_id: str) -> Order:
        """The order, lines keyed by SKU; ``PermanentError`` if Amazon has no such order or it
        cannot be mapped."""
        payload = self.api.get_order(external_id, self.order_data)
        return self._order(payload)

    def iter_orders(self, since: datetime) -> Iterator[Order]:
        """Orders updated at or after ``since`` in the account's marketplaces; an order that
        cannot be mapped is skipped with a warning."""
        token = ""
        while True:
            page = self.api.search_orders(since, self.marketplace_ids(), self.order_data, token)
            for payload in page.get("orders") or ():
                try:
                    yield self._order(payload)
                except PermanentError as exc:
                    log.warning("skipping an Amazon order that cannot be mapped: %s", exc)
            token = str(page.get("nextToken") or "")
            if not token:
                return

    def _order(self, payload: Mapping[str, Any]) -> Order:
        try:
            return mapper.order_from_api(payload, self._home_marketplace())
        except ValueError as exc:
            raise PermanentError(f"Amazon order {payload.get('orderId')}: {exc}") from exc

    # ReturnSource ------------------------------------------------------------------------

    def iter_return_requests(self, since: datetime) -> Iterator[ReturnRequest]:
        """The returns reported since ``since``, whatever their status (``raw["status"]``);
        rows that cannot be read are logged with their line numbers."""
        for number, row in self.iter_return_rows(since):
            if isinstance(row, RowError):
                log.warning("Amazon returns report line %d skipped: %s", number, row.message)
            else:
                yield row.request

    def iter_return_rows(
        self, since: datetime, until: datetime | None = None
    ) -> Iterator[ParsedRow]:
        """Every row of the returns reports from ``since`` to ``until`` (default: the last
        full hour), as ``(line number, ReportedReturn | RowError)``. All reports are requested
        first, so Amazon builds them side by side; each is then read as it downloads."""
        for report in self.request_returns_reports(since, until):
            yield from self.returns_report_rows(report)

    def request_returns_reports(
        self, since: datetime, until: datetime | None = None
    ) -> list[ReturnsReport]:
        """Ask Amazon for the returns reports of a window: per marketplace, per window of at
        most 60 days, the seller-fulfilled report and (with ``fba``) the FBA one. A report
        already being built for the same window is reused."""
        end = until or self._last_full_hour()
        types = [reports.FLAT_FILE_RETURNS] + ([reports.FBA_RETURNS] if self.fba else [])
        runner = self._runner()
        requested = []
        for marketplace_id in self.marketplace_ids():
            for start, stop in reports.windows(since, end):
                for report_type in types:
                    report_id = runner.request(report_type, start, stop, [marketplace_id])
                    requested.append(
                        ReturnsReport(report_id, report_type, marketplace_id, start, stop)
                    )
        return requested

    def returns_report_rows(self, report: ReturnsReport) -> Iterator[ParsedRow]:
        """The rows of one requested report, once Amazon has built it (``RetryableError`` if
        it is still being built after ``report_wait``)."""
        runner = self._runner()
        text = runner.text(runner.wait(report.report_id))
        if text.reason:
            log.info("%s", text.reason)
            return
        try:
            yield from parse_returns_report(text.lines, report.marketplace_id)
        except ReportFormatError as exc:
            raise PermanentError(f"Amazon report {report.report_id}: {exc}") from exc

    # ReturnPublisher: what Amazon has no API for -----------------------------------------

    def approve(self, idempotency_key: str, return_external_id: str) -> PushResult:
        return _skipped("approve", return_external_id)

    def decline(
        self, idempotency_key: str, return_external_id: str, reason: str, note: str
    ) -> PushResult:
        return _skipped("decline", return_external_id)

    def attach_label(
        self,
        idempotency_key: str,
        return_external_id: str,
        tracking_number: str,
        carrier: str,
        label_url: str,
    ) -> PushResult:
        return _skipped("attach_label", return_external_id)

    def dispose(
        self,
        idempotency_key: str,
        return_external_id: str,
        dispositions: list[tuple[str, int, str]],
    ) -> PushResult:
        return _skipped("dispose", return_external_id)

    def close(self, idempotency_key: str, return_external_id: str) -> PushResult:
        return _skipped("close", return_external_id)

    # ReturnPublisher: refunds ------------------------------------------------------------

    def refund(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        amount: Money,
        lines: list[tuple[str, int]],
        *,
        store_credit: bool = False,
    ) -> PushResult:
        """Refund ``amount`` for ``lines`` (SKU, quantity) of the order in the seller's next
        payment adjustment feed, idempotent by key through its receipt.

        The first call queues the refund in the seller's batch and raises ``AwaitingPlatform``
        (naming the batch when it opened it, so the job that sends it is queued). Each later
        call reads the receipt and moves it on where it can: still waiting for the feed or for
        Amazon, ``AwaitingPlatform`` again (a submitted feed is read once per call, which
        settles every refund in it); issued, the ``PushResult``; refused, ``PermanentError``
        with Amazon's words, the same on every call (a corrected refund goes under a new key);
        ``Uncertain`` when a person must check Seller Central first."""
        if store_credit:
            raise PermanentError("Amazon has no store credit a seller can grant: refund instead")
        if amount.is_zero():
            return PushResult("", details={"kind": "refund", "skipped": "nothing to refund"})
        receipt = self.receipts.refund(idempotency_key)
        if receipt is None:
            line = RefundLine(
                idempotency_key, order_external_id, amount, tuple(lines), return_external_id
            )
            number = self.receipts.queue(self._queued(line))
            if number is not None:
                raise self._waiting_for_feed(idempotency_key, number)
            receipt = self.receipts.refund(idempotency_key)  # another worker queued it first
            if receipt is None:
                raise RetryableError(f"the refund {idempotency_key} was not taken on; try again")
        already = receipt.state is RefundState.ISSUED
        return _refund_result(self._follow(receipt), already_done=already)

    def refund_status(self, idempotency_key: str) -> RefundReceipt | None:
        """Where the refund under this key stands with Amazon, or None if never asked for."""
        return self.receipts.refund(idempotency_key)

    def settle_refund(self, idempotency_key: str, made: bool, note: str) -> None:
        """Record what a person found in Seller Central for a refund Helloword cannot settle
        itself (UNCERTAIN, or SUBMITTED past any wait): ISSUED when Amazon made it, FAILED when
        it did not, which lets it be asked for again under a new key. A refund still queued
        can only be withdrawn (not made); one being submitted, or settled the other way, is
        refused with ``PermanentError``."""
        receipt = self.receipts.refund(idempotency_key)
        if receipt is None:
            raise PermanentError(f"Amazon was never asked for the refund {idempotency_key}")
        target = RefundState.ISSUED if made else RefundState.FAILED
        if receipt.state is target:
            return
        settleable = {RefundState.SUBMITTED, RefundState.UNCERTAIN}
        if not made:
            settleable.add(RefundState.QUEUED)
        if receipt.state not in settleable:
            raise PermanentError(
                f"the refund {idempotency_key} is {receipt.state} with Amazon: it cannot be "
                f"settled as {target} by hand"
            )
        message = f"settled by hand: {note}" if note else "settled by hand"
        if not self.receipts.replace(receipt.state, receipt.moved(target, message=message)):
            raise RetryableError(f"the refund {idempotency_key} changed meanwhile; try again")

    def take_queued_refunds(self) -> list[RefundLine]:
        """Every refund waiting in the seller's batch, as the lines of the feed that sends them;
        the batch is left empty. A key whose receipt moved on meanwhile is left out."""
        lines = []
        for key in dict.fromkeys(self.receipts.take_batch()):
            receipt = self.receipts.refund(key)
            if receipt is not None and receipt.state is RefundState.QUEUED:
                lines.append(_line_of(receipt))
        return lines

    def submit_refunds(self, batch: Sequence[RefundLine]) -> list[str]:
        """Submit the refunds of ``batch`` not yet submitted as one payment adjustment feed (or
        as few as keep each document within Amazon's size limit); the feed ids. A refund
        already under way or settled is left out, as is one that cannot be made (its receipt
        says why: ``refund_status``). ``NothingToDo`` if none remains."""
        feed_ids = self._submit(batch)
        if not feed_ids:
            raise NothingToDo("no refund of the batch needed submitting")
        return feed_ids

    def feed_result(self, feed_id: str) -> list[FeedOutcome]:
        """What the feed did with each refund, from its processing report; the receipts follow.
        ``FeedPending`` (a ``RetryableError``) while Amazon is still processing it."""
        feed = self.api.get_feed(feed_id)
        status = str(feed.get("processingStatus") or "")
        if status in PENDING_FEED:
            raise FeedPending(f"Amazon feed {feed_id} is {status}", retry_after=FEED_RETRY)
        messages = self.receipts.feed_messages(feed_id)
        if not messages:
            raise PermanentError(
                f"Amazon feed {feed_id} is not a refund feed Helloword submitted for seller "
                f"{self.seller_id}, or its receipt has expired"
            )
        outcomes = self._feed_outcomes(feed_id, status, feed, messages)
        log.info("Amazon feed %s %s: %s", feed_id, status, dict(feeds.summary(outcomes)))
        return [self._settle(messages[o.message_id], feed_id, o) for o in outcomes]

    def _queued(self, line: RefundLine) -> RefundReceipt:
        now = self._clock()
        return RefundReceipt(
            line.idempotency_key,
            RefundState.QUEUED,
            claimed_at=now,
            order_external_id=line.order_external_id,
            amount=str(line.amount),
            lines=line.lines,
            return_external_id=line.return_external_id,
            reason=line.reason,
            queued_at=now,
        )

    def _waiting_for_feed(self, key: str, number: int) -> AwaitingPlatform:
        """A refund in the batch; ``number`` when it opened the batch, which the job that
        sends the batch is queued by."""
        return AwaitingPlatform(
            f"the refund {key} waits for the next refund feed of Amazon seller {self.seller_id}",
            retry_after=REFUND_RECHECK,
            batch=str(number) if number else "",
            send_in=self.refund_batch,
        )

    def _follow(self, receipt: RefundReceipt) -> RefundReceipt:
        """Move an unsettled refund on as far as it goes now: the receipt as it then stands,
        or ``AwaitingPlatform`` while it waits for its feed or for Amazon."""
        key, now = receipt.idempotency_key, self._clock()
        if receipt.state is RefundState.QUEUED:
            if now - receipt.queued_at > QUEUE_LIMIT:  # never sent: safe to fail, and say why
                why = f"it could not be sent to Amazon in {QUEUE_LIMIT / 3600:.0f} hours"
                failed = receipt.moved(
                    RefundState.FAILED,
                    message=f"{why}: {receipt.message}" if receipt.message else why,
                )
                self.receipts.replace(RefundState.QUEUED, failed)
                return self.receipts.refund(key) or failed
            if now - receipt.claimed_at > STALE_BATCH:  # the job sending its batch was lost
                fresh = receipt.moved(RefundState.QUEUED, claimed_at=now)
                number = self.receipts.requeue(RefundState.QUEUED, fresh)
                if number:
                    raise self._waiting_for_feed(key, number)
            raise self._waiting_for_feed(key, 0)
        if receipt.state is RefundState.SUBMITTING:
            age = now - receipt.claimed_at
            if age < STALE_CLAIM:
                raise AwaitingPlatform(
                    f"the refund {key} is being submitted to Amazon", retry_after=REFUND_RECHECK
                )
            try:
                number = self._recover(receipt)
            except Uncertain:
                raise
            except (RetryableError, NeedsRelinking) as unread:  # Amazon may have it: no failure
                raise AwaitingPlatform(
                    f"the submission of the refund {key} was cut off, and whether Amazon has "
                    f"its feed cannot be read yet: {unread}",
                    retry_after=REFUND_RECHECK,
                ) from unread
            raise self._waiting_for_feed(key, number)
        if receipt.state is RefundState.SUBMITTED:
            self._read_feed(receipt)
            return self.receipts.refund(key) or receipt
        return receipt

    def _read_feed(self, receipt: RefundReceipt) -> None:
        """Read the refund's feed once, which settles every refund in it. Whatever keeps the
        answer from being read leaves the refund with Amazon (``AwaitingPlatform``), except an
        answer that will never be readable, which leaves it for a person (``Uncertain``)."""
        key, feed_id = receipt.idempotency_key, receipt.feed_id
        try:
            self.feed_result(feed_id)
        except FeedPending as pending:
            raise AwaitingPlatform(
                f"Amazon is still processing the refund {key} (feed {feed_id})",
                retry_after=REFUND_RECHECK,
            ) from pending
        except NeedsRelinking as lapsed:
            raise AwaitingPlatform(
                f"the refund {key} is with Amazon (feed {feed_id}); its outcome is read once the "
                f"account is linked again: {lapsed}",
                retry_after=REFUND_RECHECK,
            ) from lapsed
        except RetryableError as passing:
            raise AwaitingPlatform(
                f"the refund {key} is with Amazon (feed {feed_id}); its outcome could not be "
                f"read yet: {passing}",
                retry_after=max(REFUND_RECHECK, passing.retry_after or 0.0),
            ) from passing
        except PermanentError as unreadable:
            message = f"Amazon has its feed {feed_id}, whose outcome cannot be read: {unreadable}"
            self.receipts.replace(
                RefundState.SUBMITTED, receipt.moved(RefundState.UNCERTAIN, message=message)
            )
            raise Uncertain(f"Amazon may or may not have made the refund {key}: {message}") from (
                unreadable
            )

    def _submit(self, batch: Iterable[RefundLine]) -> list[str]:
        claimed = [line for line in batch if self._claim(line)]
        if not claimed:
            return []
        feed_ids: list[str] = []
        in_flight: set[str] = set()
        try:
            adjustments, keys = self._adjustments(claimed)
            for group, content in feeds.payment_adjustment_feeds(self.seller_id, adjustments):
                messages = {
                    adjustment.message_id: keys[adjustment.message_id] for adjustment in group
                }
                in_flight = set(messages.values())
                feed_id = self._create_feed(content)
                self._submitted(feed_id, messages)
                in_flight = set()
                feed_ids.append(feed_id)
        except MaybeDone as cut_off:
            # the feed in flight may exist: its refunds stay SUBMITTING until _recover knows
            self._put_back(claimed, str(cut_off), keep=in_flight)
            raise
        except BaseException as error:
            self._put_back(claimed, str(error) or type(error).__name__, keep=set())
            raise
        return feed_ids

    def _create_feed(self, content: bytes) -> str:
        document = self.api.create_feed_document(feeds.CONTENT_TYPE)
        self.api.upload(str(document.get("url") or ""), content, feeds.CONTENT_TYPE)
        return self.api.create_feed(
            feeds.FEED_TYPE, str(document.get("feedDocumentId") or ""), self.marketplace_ids()
        )

    def _submitted(self, feed_id: str, messages: dict[int, str]) -> None:
        self.receipts.keep_feed(feed_id, messages)
        for message_id, key in messages.items():
            receipt = self.receipts.refund(key)
            if receipt is not None:
                self.receipts.keep(
                    receipt.moved(RefundState.SUBMITTED, feed_id=feed_id, message_id=message_id)
                )
        log.info("Amazon refund feed %s submitted with %d refunds", feed_id, len(messages))

    def _put_back(self, lines: Iterable[RefundLine], why: str, *, keep: set[str]) -> None:
        """Refunds claimed for a submission that stopped short, and certainly not sent, go
        back to the front of the batch; the next submission takes them."""
        now = self._clock()
        for line in lines:
            receipt = self.receipts.refund(line.idempotency_key)
            if line.idempotency_key in keep or receipt is None:
                continue
            if receipt.state is RefundState.SUBMITTING:
                back = receipt.moved(
                    RefundState.QUEUED, claimed_at=now, message=f"the last submission failed: {why}"
                )
                self.receipts.requeue(RefundState.SUBMITTING, back)

    def _claim(self, line: RefundLine) -> bool:
        """Take a refund on for a feed: one waiting in the batch if it still is, one never
        asked for if no receipt has appeared, one a worker abandoned mid-submission once it is
        recovered."""
        key = line.idempotency_key
        existing = self.receipts.refund(key)
        if existing is not None and existing.state is RefundState.SUBMITTING:
            try:
                self._recover(existing)
            except (RetryableError, PermanentError) as exc:
                log.warning("Amazon refund %s left out of the feed: %s", key, exc)
                return False
            existing = self.receipts.refund(key)
        now = self._clock()
        claimed = RefundReceipt(
            key,
            RefundState.SUBMITTING,
            claimed_at=now,
            order_external_id=line.order_external_id,
            amount=str(line.amount),
            lines=line.lines,
            return_external_id=line.return_external_id,
            reason=line.reason,
            queued_at=existing.queued_at if existing is not None else now,
        )
        if existing is None:
            return self.receipts.claim(claimed)
        if existing.state is RefundState.QUEUED:
            return self.receipts.replace(RefundState.QUEUED, claimed)
        return False

    def _recover(self, receipt: RefundReceipt) -> int:
        """A refund left SUBMITTING: back in the batch when Amazon has no payment adjustment
        feed created since its claim (the batch number it opened), else UNCERTAIN
        (``Uncertain``)."""
        age = self._clock() - receipt.claimed_at
        if age < STALE_CLAIM:
            raise RetryableError(
                f"the refund {receipt.idempotency_key} is being submitted by another worker",
                retry_after=STALE_CLAIM - age,
            )
        since = datetime.fromtimestamp(receipt.claimed_at - CLOCK_SKEW, UTC)
        created = self.api.get_feeds(feeds.FEED_TYPE, since)
        if not created:
            back = receipt.moved(RefundState.QUEUED, claimed_at=self._clock())
            number = self.receipts.requeue(RefundState.SUBMITTING, back)
            if number is None:
                raise RetryableError(f"the refund {receipt.idempotency_key} moved on meanwhile")
            return number
        ids = ", ".join(str(feed.get("feedId")) for feed in created)
        message = (
            f"the submission was cut off, and Amazon has payment adjustment feeds created since "
            f"({ids}); check them in Seller Central before refunding again under a new key"
        )
        self.receipts.replace(
            RefundState.SUBMITTING, receipt.moved(RefundState.UNCERTAIN, message=message)
        )
        raise Uncertain(f"Amazon refund {receipt.idempotency_key}: {message}")

    def _adjustments(
        self, lines: Sequence[RefundLine]
    ) -> tuple[list[feeds.Adjustment], dict[int, str]]:
        """The feed's messages; a refund that cannot be one gets a FAILED receipt instead."""
        orders: dict[str, Mapping[str, Any]] = {}
        adjustments: list[feeds.Adjustment] = []
        keys: dict[int, str] = {}
        for line in lines:
            try:
                if line.order_external_id not in orders:
                    orders[line.order_external_id] = self.api.get_order(
                        line.order_external_id, REFUND_ORDER_DATA
                    )
                message_id = len(adjustments) + 1
                adjustment = _adjustment(message_id, line, orders[line.order_external_id])
            except PermanentError as refused:
                self._fail(line.idempotency_key, str(refused))
                continue
            adjustments.append(adjustment)
            keys[message_id] = line.idempotency_key
        return adjustments, keys

    def _fail(self, key: str, message: str) -> None:
        receipt = self.receipts.refund(key)
        if receipt is not None:
            self.receipts.keep(receipt.moved(RefundState.FAILED, message=message))

    def _feed_outcomes(
        self, feed_id: str, status: str, feed: Mapping[str, Any], messages: Mapping[int, str]
    ) -> list[feeds.MessageOutcome]:
        ids = list(messages)
        if status == "CANCELLED":
            why = "Amazon cancelled the feed before processing it"
            return [feeds.MessageOutcome(mid, Fate.FAILED, why) for mid in ids]
        document_id = str(feed.get("resultFeedDocumentId") or "")
        if not document_id:
            why = f"Amazon ended the feed {status} without a processing report"
            return [feeds.MessageOutcome(mid, Fate.UNCERTAIN, why) for mid in ids]
        try:
            outcomes = feeds.message_outcomes(self._feed_report(document_id), ids)
        except ValueError as exc:
            why = f"the processing report of feed {feed_id} cannot be read: {exc}"
            return [feeds.MessageOutcome(mid, Fate.UNCERTAIN, why) for mid in ids]
        if status == "FATAL":  # "some, none, or all of the operations may have completed"
            return [
                o
                if o.fate is Fate.FAILED
                else feeds.MessageOutcome(
                    o.message_id, Fate.UNCERTAIN, f"the feed ended FATAL. {o.message}".strip()
                )
                for o in outcomes
            ]
        return outcomes

    def _feed_report(self, document_id: str) -> bytes:
        document = self.api.feed_document(document_id)
        download = self.api.open_document(str(document.get("url") or ""))
        try:
            content = bytearray()
            for chunk in download.chunks():
                content.extend(chunk)
                if len(content) > MAX_FEED_REPORT:
                    raise ValueError("the processing report is larger than Helloword reads")
        finally:
            download.close()
        if str(document.get("compressionAlgorithm") or "").upper() == "GZIP":
            try:
                return zlib.decompress(bytes(content), 16 + zlib.MAX_WBITS)
            except zlib.error as exc:
                raise ValueError(f"the processing report is not valid gzip: {exc}") from exc
        return bytes(content)

    def _settle(self, key: str, feed_id: str, outcome: feeds.MessageOutcome) -> FeedOutcome:
        state = {
            Fate.DONE: RefundState.ISSUED,
            Fate.FAILED: RefundState.FAILED,
            Fate.UNCERTAIN: RefundState.UNCERTAIN,
        }[outcome.fate]
        receipt = self.receipts.refund(key)
        if receipt is not None and receipt.state in (RefundState.SUBMITTED, RefundState.SUBMITTING):
            self.receipts.keep(
                receipt.moved(
                    state, feed_id=feed_id, message_id=outcome.message_id, message=outcome.message
                )
            )
        elif receipt is not None:
            state = receipt.state  # settled before: the first reading stands
        return FeedOutcome(
            key, state is RefundState.ISSUED, outcome.message, outcome.message_id, state
        )

    # InventoryPublisher ------------------------------------------------------------------

    def restock(self, idempotency_key: str, sku: str, quantity: int) -> PushResult:
        """Add ``quantity`` units to the listing's seller-fulfilled quantity in the inventory
        marketplace. Amazon's quantity is absolute, so the current one is read first; the
        quantity set is kept under the key, and a retry that finds the listing at it already
        takes the restock as done."""
        if quantity < 1:
            raise PermanentError(f"cannot restock {quantity} units of {sku!r}")
        record = self.receipts.restock(idempotency_key) or {}
        if record.get("state") == "done":
            return _restocked(record, already_done=True)
        marketplace_id = self.inventory_marketplace or self._home_marketplace()
        stock = mapper.listing_stock(
            self.api.get_listings_item(sku, marketplace_id), marketplace_id
        )
        if stock.fulfilled_by_amazon:
            raise PermanentError(
                f"Amazon listing {sku!r} is fulfilled by Amazon: its stock is Amazon's to count"
            )
        if record.get("state") == "pending" and record.get("target") == stock.quantity:
            record = {**record, "state": "done"}
            self.receipts.keep_restock(idempotency_key, record)
            return _restocked(record, already_done=True)
        if not stock.product_type:
            raise PermanentError(f"Amazon listing {sku!r} has no product type to patch it by")
        target = stock.quantity + quantity
        record = {
            "state": "pending",
            "sku": sku,
            "marketplace_id": marketplace_id,
            "before": stock.quantity,
            "target": target,
            "quantity": quantity,
        }
        self.receipts.keep_restock(idempotency_key, record)
        answer = self.api.patch_listings_item(
            sku, marketplace_id, mapper.stock_patch(stock.product_type, target)
        )
        if str(answer.get("status") or "").upper() != "ACCEPTED":
            self.receipts.keep_restock(idempotency_key, {**record, "state": "refused"})
            raise PermanentError(
                f"Amazon refused the quantity of listing {sku!r}: {_issues(answer)}"
            )
        record = {**record, "state": "done", "submission_id": str(answer.get("submissionId") or "")}
        self.receipts.keep_restock(idempotency_key, record)
        return _restocked(record, already_done=False)

    # plumbing ----------------------------------------------------------------------------

    @property
    def api(self) -> SellingPartnerApi:
        if self._api is None:
            if not self.seller_id:
                raise PermanentError("the Amazon account has no selling_partner_id")
            self._api = SellingPartnerApi(
                self.seller_id,
                self.region,
                self._lwa_client(),
                str(self._secrets.get("refresh_token") or ""),
                self.throttle,
                home_marketplace=self._marketplace_ids[0] if self._marketplace_ids else "",
                http=self._http,
                sandbox=self.sandbox,
                sleep=self._sleep,
                clock=self._clock,
            )
        return self._api

    def marketplace_ids(self) -> list[str]:
        """The marketplaces the account works in: the setting, else those the seller takes
        part in (asked of Amazon once)."""
        if not self._marketplace_ids:
            found = [
                m["marketplace_id"] for m in self.marketplace_participations() if m["participating"]
            ]
            if not found:
                raise PermanentError(
                    f"Amazon seller {self.seller_id} takes part in no marketplace of region "
                    f"{self.region}"
                )
            self._marketplace_ids = found
        return list(self._marketplace_ids)

    def _home_marketplace(self) -> str:
        if self._marketplace_ids:
            return self._marketplace_ids[0]
        return marketplaces.REGION_HOME[self.region]

    def _lwa_client(self) -> lwa.LwaClient:
        if self._lwa is None:
            self._lwa = lwa.LwaClient(
                str(self._secrets.get("lwa_app_id") or ""),
                str(self._secrets.get("lwa_client_secret") or ""),
                http=self._http,
                clock=self._clock,
            )
        return self._lwa

    def _runner(self) -> reports.ReportRunner:
        return reports.ReportRunner(
            self.api, clock=self._clock, sleep=self._sleep, max_wait=self.report_wait
        )

    def _last_full_hour(self) -> datetime:
        now = datetime.fromtimestamp(self._clock(), UTC)
        return now.replace(minute=0, second=0, microsecond=0)


def _adjustment(message_id: int, line: RefundLine, order: Mapping[str, Any]) -> feeds.Adjustment:
    """The refund as a feed message: ``amount`` over the lines in proportion to their price,
    what exceeds the lines' price refunded as shipping on the last line. ``PermanentError``
    when the order cannot take it."""
    order_id = line.order_external_id
    try:
        items = {item.sku: item for item in mapper.order_items(order)}
        total = mapper.grand_total(order)
    except ValueError as exc:
        raise PermanentError(f"Amazon order {order_id}: {exc}") from exc
    amount = line.amount
    if total is not None and total.currency != amount.currency:
        raise PermanentError(
            f"Amazon order {order_id} is in {total.currency}, not {amount.currency}"
        )
    if total is not None and amount > total:
        raise PermanentError(
            f"a refund of {amount} exceeds the {total} Amazon order {order_id} came to"
        )
    if not line.lines:
        raise PermanentError(f"the refund {line.idempotency_key} names no line of the order")
    chosen, values = [], []
    for sku, quantity in line.lines:
        item = items.get(sku)
        if item is None:
            raise PermanentError(f"Amazon order {order_id} has no item with SKU {sku!r}")
        if quantity < 1 or quantity > item.quantity:
            raise PermanentError(
                f"Amazon order {order_id} has {item.quantity} of {sku!r}; cannot refund {quantity}"
            )
        price = (
            item.unit_price
            if item.unit_price and item.unit_price.currency == amount.currency
            else None
        )
        chosen.append(item)
        values.append(price * quantity if price else Money.zero(amount.currency))
    worth = sum(values, Money.zero(amount.currency))
    principal = amount if worth.is_zero() or amount <= worth else worth
    shares = mapper.allocate(principal, values)
    extra = amount - principal
    adjusted = []
    for index, (item, share) in enumerate(zip(chosen, shares, strict=True)):
        shipping = extra if index == len(chosen) - 1 and not extra.is_zero() else None
        adjusted.append(feeds.AdjustedItem(item.order_item_id, share, shipping, line.reason))
    return feeds.Adjustment(message_id, order_id, tuple(adjusted))


def _refund_result(receipt: RefundReceipt, *, already_done: bool) -> PushResult:
    key = receipt.idempotency_key
    if receipt.state is RefundState.ISSUED:
        details = {"kind": "refund", "amount": receipt.amount, "feed_id": receipt.feed_id}
        if receipt.message:
            details["warning"] = receipt.message
        return PushResult(receipt.feed_id, already_done=already_done, details=details)
    if receipt.state is RefundState.FAILED:
        raise PermanentError(f"Amazon did not make the refund {key}: {receipt.message}")
    if receipt.state is RefundState.UNCERTAIN:
        raise Uncertain(f"Amazon may or may not have made the refund {key}: {receipt.message}")
    raise AwaitingPlatform(f"the refund {key} is {receipt.state}", retry_after=REFUND_RECHECK)


def _line_of(receipt: RefundReceipt) -> RefundLine:
    """The feed line a queued receipt keeps."""
    amount, _, currency = receipt.amount.partition(" ")
    return RefundLine(
        receipt.idempotency_key,
        receipt.order_external_id,
        Money.of(amount, currency),
        receipt.lines,
        receipt.return_external_id,
        receipt.reason or feeds.DEFAULT_REASON,
    )


def _skipped(kind: str, return_external_id: str) -> PushResult:
    return PushResult(return_external_id, details={"kind": kind, "skipped": _NO_API[kind]})


def _restocked(record: Mapping[str, Any], *, already_done: bool) -> PushResult:
    details = {
        "kind": "restock",
        "sku": record.get("sku"),
        "quantity": record.get("quantity"),
        "marketplace_id": record.get("marketplace_id"),
        "before": record.get("before"),
        "after": record.get("target"),
    }
    return PushResult(
        str(record.get("submission_id") or ""), already_done=already_done, details=details
    )


def _issues(answer: Mapping[str, Any]) -> str:
    issues = [i for i in answer.get("issues") or () if isinstance(i, Mapping)]
    text = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues)
    return text or f"status {answer.get('status')!r}"


def _marketplace_ids(value: object) -> list[str]:
    """The ``marketplace_ids`` setting, a list or a comma-separated text, checked."""
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple):
        items = list(value)
    elif value is None:
        items = []
    else:
        raise ValueError(f"marketplace_ids must be a list of marketplace ids, not {value!r}")
    ids = [str(item).strip() for item in items if str(item).strip()]
    for marketplace_id in ids:
        marketplaces.marketplace(marketplace_id)
    return ids
