"""The Amazon platform: a seller account's returns in from reports, refunds out by feed, and
restocked units back on the listing.

``AmazonPlatform`` is the adapter the registry builds for the ``amazon`` slug. Besides it the
app uses: ``NeedsRelinking`` (an account whose authorisation lapsed), ``RefundLine`` and
``FeedOutcome`` (refunds batched into one feed), ``RefundReceipt`` and ``RefundState`` (where a
refund stands with Amazon), ``parse_returns_report`` with ``file_lines`` (a returns report
saved from Seller Central, read offline), its ``ReportedReturn`` and ``RowError`` rows, and
``consent_url`` / ``LwaClient`` for the linking routes. Everything else in this package is
private to it.
"""

from .adapter import AmazonPlatform, FeedOutcome, FeedPending, RefundLine, ReturnsReport
from .lwa import LwaClient, NeedsRelinking, consent_url
from .receipts import RefundReceipt, RefundState
from .reports import file_lines
from .returns_report import (
    ReportedReturn,
    ReportFormatError,
    RowError,
    parse_returns_report,
)

__all__ = [
    "AmazonPlatform",
    "FeedOutcome",
    "FeedPending",
    "LwaClient",
    "NeedsRelinking",
    "RefundLine",
    "RefundReceipt",
    "RefundState",
    "ReportFormatError",
    "ReportedReturn",
    "ReturnsReport",
    "RowError",
    "consent_url",
    "file_lines",
    "parse_returns_report",
]
