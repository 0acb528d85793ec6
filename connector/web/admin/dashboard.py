"""The KPI dashboard: the merchant's return figures for a date range, each as a chart drawn
on the server as inline SVG, with its data as a table and as a CSV download.

The figures come from ``services.kpis``; this module turns them into chart geometry (bars,
lines, ticks, in the SVG's own units), words and numbers for the reader's locale, and CSV rows
(plain ISO dates and decimal numbers, for spreadsheets).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.dates import format_skeleton
from flask import Response, abort, render_template, request, url_for
from flask_babel import format_currency, format_decimal, format_percent, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...errors import PermanentError
from ...runtime import current_runtime
from ...services import kpis
from . import admin, login_required, merchant_id

DEFAULT_DAYS = 30
MAX_DAYS = 731

REASONS: dict[str, Any] = {
    "SIZE_TOO_SMALL": _l("Too small"),
    "SIZE_TOO_LARGE": _l("Too large"),
    "UNWANTED": _l("No longer wanted"),
    "NOT_AS_DESCRIBED": _l("Not as described"),
    "WRONG_ITEM": _l("Wrong item sent"),
    "DEFECTIVE": _l("Defective"),
    "DAMAGED_IN_TRANSIT": _l("Damaged in transit"),
    "ARRIVED_LATE": _l("Arrived late"),
    "COLOR": _l("Colour"),
    "STYLE": _l("Style"),
    "OTHER": _l("Other"),
}
WAYS_BACK: dict[str, Any] = {
    "label": _l("Prepaid label"),
    "dropoff": _l("Drop-off code"),
    "own_shipment": _l("Buyer's own shipment"),
    "keep_item": _l("Buyer keeps the item"),
    "donate": _l("Buyer donates the item"),
}


# Chart geometry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    position: float  # along the axis, in SVG units
    text: str


@dataclass(frozen=True)
class Bar:
    label: str
    short: str  # the label as the axis shows it
    text: str  # the value, formatted
    y: float
    length: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars: categories down the left, values along the bottom."""

    bars: list[Bar]
    ticks: list[Tick]
    value_label: str
    category_label: str
    width: int = 560
    left: int = 184
    right: int = 72
    top: int = 12
    bar_height: int = 22
    gap: int = 10
    kind: str = "bar"

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return len(self.bars) * (self.bar_height + self.gap)

    @property
    def axis_y(self) -> int:
        return self.top + self.plot_height

    @property
    def height(self) -> int:
        return self.axis_y + 48


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    text: str  # what the point says, for its tooltip


@dataclass(frozen=True)
class LineChart:
    points: list[Point]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    width: int = 560
    height: int = 260
    left: int = 52
    right: int = 16
    top: int = 14
    bottom: int = 56
    kind: str = "line"

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def axis_y(self) -> int:
        return self.top + self.plot_height

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class Chart:
    key: str  # the CSV's chart name and the prefix of the chart's element ids
    title: str
    about: str  # what is counted and how
    figure: BarChart | LineChart | None  # None: nothing to draw in this period
    summary: str  # the chart in one sentence, for its <desc>
    headers: list[str]
    rows: list[list[str]]
    figures: list[tuple[str, str]] = field(default_factory=list)  # headline numbers
    notes: list[str] = field(default_factory=list)


def nice_ticks(maximum: float, count: int = 4, whole: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``maximum``: steps of 1, 2, 2.5 or 5 × 10ⁿ."""
    maximum = maximum if maximum > 0 else 1.0
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    steps = math.ceil(maximum / step - 1e-9)
    return [i * step for i in range(steps + 1)]


def bar_chart(
    items: Sequence[tuple[str, float, str]],
    value_label: str,
    category_label: str,
    tick_text: Callable[[float], str],
    whole: bool = False,
) -> BarChart | None:
    """Bars for (label, value, value as text); None when every value is zero."""
    if not items or all(value <= 0 for _, value, _ in items):
        return None
    values = nice_ticks(max(value for _, value, _ in items), whole=whole)
    chart = BarChart([], [], value_label, category_label)
    scale = chart.plot_width / values[-1]
    bars = [
        Bar(
            label=label,
            short=label if len(label) <= 24 else label[:23] + "…",
            text=text,
            y=chart.top + index * (chart.bar_height + chart.gap) + chart.gap / 2,
            length=max(value, 0) * scale,
        )
        for index, (label, value, text) in enumerate(items)
    ]
    ticks = [Tick(chart.left + value * scale, tick_text(value)) for value in values]
    return BarChart(bars, ticks, value_label, category_label)


def line_chart(
    items: Sequence[tuple[str, float, str]],
    x_label: str,
    y_label: str,
    labels: int = 6,
) -> LineChart | None:
    """A line through (x tick text, value, point text) at even steps; None without data."""
    if not items or all(value <= 0 for _, value, _ in items):
        return None
    values = nice_ticks(max(value for _, value, _ in items), whole=True)
    chart = LineChart([], [], [], x_label, y_label)
    step = chart.plot_width / max(len(items) - 1, 1)
    y_scale = chart.plot_height / values[-1]

    def x_of(index: int) -> float:
        return chart.left + (index * step if len(items) > 1 else chart.plot_width / 2)

    points = [
        Point(x_of(index), chart.axis_y - value * y_scale, text)
        for index, (_, value, text) in enumerate(items)
    ]
    every = max(1, math.ceil(len(items) / labels))
    x_ticks = [Tick(x_of(i), items[i][0]) for i in range(0, len(items), every)]
    y_ticks = [Tick(chart.axis_y - value * y_scale, _number(value)) for value in values]
    return LineChart(points, x_ticks, y_ticks, x_label, y_label)


# Pages ----------------------------------------------------------------------------------


@admin.get("/dashboard")
@login_required
def dashboard() -> str:
    period, problems = period_from(request.args, _today())
    try:
        data = _figures(period)
    except PermanentError as error:  # a currency without a stored exchange rate
        return _render(period, problems, None, failure=_rate_missing(error))
    return _render(period, problems, data)


@admin.get("/dashboard.csv")
@login_required
def dashboard_csv() -> Response:
    period, problems = period_from(request.args, _today())
    if problems:
        abort(400, "; ".join(problems.values()))
    chart = request.args.get("chart", "")
    if chart not in CSV:
        abort(404, f"no chart {chart!r}; expected one of {', '.join(CSV)}")
    try:
        data = _figures(period)
    except PermanentError as error:
        abort(500, _rate_missing(error))
    header, rows = CSV[chart](data)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    name = f"{chart}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def period_from(args: Mapping[str, str], today: date) -> tuple[kpis.Period, dict[str, str]]:
    """The period asked for (``from``, ``to``: ISO dates), else the last 30 days to today;
    problems with the asked dates by field."""
    problems: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        given = args.get(name, "").strip()
        dates[name] = None
        if given:
            try:
                dates[name] = date.fromisoformat(given)
            except ValueError:
                problems[name] = _("Enter a date as YYYY-MM-DD.")
    end = dates["to"] or today
    start = dates["from"] or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        problems["from"] = _("The period must start on or before the day it ends.")
    elif (end - start).days + 1 > MAX_DAYS:
        problems["from"] = _("Choose a period of at most %(days)s days.", days=MAX_DAYS)
    if problems:
        return kpis.Period.last(DEFAULT_DAYS, today), problems
    return kpis.Period(start, end), problems


def _today() -> date:
    return datetime.now(UTC).date()


def _figures(period: kpis.Period) -> kpis.Dashboard:
    with current_runtime().db.session() as session:
        return kpis.dashboard(session, merchant_id(), period)


def _rate_missing(error: PermanentError) -> str:
    return _("The figures need an exchange rate that is not stored: %(error)s.", error=error)


def _render(
    period: kpis.Period,
    problems: dict[str, str],
    data: kpis.Dashboard | None,
    failure: str = "",
) -> str:
    charts = charts_of(data) if data else []
    bounds: dict[str, Any] = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    return render_template(
        "admin/dashboard.html",
        period=period,
        problems=problems,
        failure=failure,
        data=data,
        charts=charts,
        headline=headline(data) if data else [],
        asked_from=request.args.get("from", period.start.isoformat()),
        asked_to=request.args.get("to", period.end.isoformat()),
        csv_url=lambda key: url_for("admin.dashboard_csv", chart=key, **bounds),
    )


def headline(data: kpis.Dashboard) -> list[tuple[str, str]]:
    total = sum(day.returns for day in data.returns_per_day)
    times = data.refund_times
    return [
        (_("Returns asked for"), _number(total)),
        (_("Average time to refund"), _duration(times.average)),
        (_("90% of refunds within"), _duration(times.p90)),
        (_("Return cost / order revenue"), _percent(data.cost.share)),
        (_("Returnless share"), _percent(data.returnless.share)),
        (_("Saved by routing"), _money(data.savings.saved.amount, data.currency)),
    ]


def charts_of(data: kpis.Dashboard) -> list[Chart]:
    return [
        _returns_per_day(data),
        _return_rates(data),
        _reasons(data),
        _refund_times(data),
        _return_cost(data),
        _returnless(data),
        _savings(data),
    ]


def _returns_per_day(data: kpis.Dashboard) -> Chart:
    days = data.returns_per_day
    total = sum(day.returns for day in days)
    busiest = max(days, key=lambda d: (d.returns, d.day))
    items = [
        (
            _short_day(day.day),
            float(day.returns),
            _("%(day)s: %(count)s", day=_long_day(day.day), count=day.returns),
        )
        for day in days
    ]
    return Chart(
        key="returns_per_day",
        title=_("Returns per day"),
        about=_("Returns by the UTC day the buyer asked for them."),
        figure=line_chart(items, _("Day (UTC)"), _("Returns")),
        summary=_(
            "%(total)s returns over %(days)s days; the most, %(most)s, on %(day)s.",
            total=total,
            days=len(days),
            most=busiest.returns,
            day=_long_day(busiest.day),
        ),
        headers=[_("Day"), _("Returns")],
        rows=[[_long_day(day.day), _number(day.returns)] for day in days],
    )


def _return_rates(data: kpis.Dashboard) -> Chart:
    rates = data.return_rates
    items = [(_product(rate), float(rate.rate), _percent(rate.rate)) for rate in rates]
    return Chart(
        key="return_rate",
        title=_("Return rate by product"),
        about=_(
            "Units returned ÷ units sold, per SKU, for orders placed in the period; lines "
            "declined and returns canceled or expired are not returns. The ten highest."
        ),
        figure=bar_chart(items, _("Return rate"), _("SKU"), _percent_tick),
        summary=(
            _(
                "Highest: %(sku)s, %(rate)s of %(sold)s units sold.",
                sku=_product(rates[0]),
                rate=_percent(rates[0].rate),
                sold=rates[0].sold,
            )
            if rates
            else _("No units returned from orders placed in the period.")
        ),
        headers=[_("SKU"), _("Product"), _("Units sold"), _("Units returned"), _("Return rate")],
        rows=[
            [
                r.sku or _("(no SKU)"),
                r.title,
                _number(r.sold),
                _number(r.returned),
                _percent(r.rate),
            ]
            for r in rates
        ],
    )


def _reasons(data: kpis.Dashboard) -> Chart:
    counts = data.reasons
    items = [(_reason(c.reason), float(c.lines), _number(c.lines)) for c in counts]
    return Chart(
        key="reasons",
        title=_("Reasons for returns"),
        about=_("Return lines by the reason the buyer gave, for returns asked for in the period."),
        figure=bar_chart(items, _("Return lines"), _("Reason"), _number, whole=True),
        summary=(
            _(
                "Most given: %(reason)s, %(count)s lines.",
                reason=_reason(counts[0].reason),
                count=counts[0].lines,
            )
            if counts
            else _("No returns asked for in the period.")
        ),
        headers=[_("Reason"), _("Return lines")],
        rows=[[_reason(c.reason), _number(c.lines)] for c in counts],
    )


def _refund_times(data: kpis.Dashboard) -> Chart:
    times = data.refund_times
    items = [(_span(low, high), float(count), _number(count)) for low, high, count in times.buckets]
    return Chart(
        key="refund_time",
        title=_("Time from request to refund"),
        about=_(
            "Refunds and store credit issued in the period, by the time since the buyer asked; "
            "the 90th percentile is the nearest-rank one."
        ),
        figure=bar_chart(items, _("Refunds"), _("Time to refund"), _number, whole=True),
        summary=_(
            "%(count)s refunds: %(average)s on average, 90%% within %(p90)s.",
            count=times.count,
            average=_duration(times.average),
            p90=_duration(times.p90),
        ),
        headers=[_("Time to refund"), _("Refunds")],
        rows=[[label, text] for label, _, text in items],
        figures=[
            (_("Refunds issued"), _number(times.count)),
            (_("Average"), _duration(times.average)),
            (_("90th percentile"), _duration(times.p90)),
        ],
    )


def _return_cost(data: kpis.Dashboard) -> Chart:
    cost, currency = data.cost, data.currency
    items = [
        (
            _("Labels, drop-off codes"),
            float(cost.labels.amount),
            _money(cost.labels.amount, currency),
        ),
        (_("Handling"), float(cost.handling.amount), _money(cost.handling.amount, currency)),
    ]
    return Chart(
        key="return_cost",
        title=_("Return cost as a share of order revenue"),
        about=_(
            "Labels and drop-off codes bought for returns asked for in the period (voided "
            "ones excluded), plus the handling in each one's chosen route unless it expired or "
            "was canceled; over the revenue of orders placed in the period. In %(currency)s, "
            "converted at the stored exchange rates.",
            currency=currency,
        ),
        figure=bar_chart(
            items, _("Cost (%(currency)s)", currency=currency), _("Cost"), _amount_tick
        ),
        summary=_(
            "Return cost %(cost)s is %(share)s of order revenue %(revenue)s.",
            cost=_money(cost.total.amount, currency),
            share=_percent(cost.share),
            revenue=_money(cost.revenue.amount, currency),
        ),
        headers=[_("Measure"), _("Amount")],
        rows=[
            *[[label, text] for label, _, text in items],
            [_("Return cost"), _money(cost.total.amount, currency)],
            [_("Order revenue"), _money(cost.revenue.amount, currency)],
            [_("Share of revenue"), _percent(cost.share)],
        ],
        figures=[
            (_("Share of revenue"), _percent(cost.share)),
            (_("Labels bought"), _number(cost.labels_bought)),
        ],
    )


def _returnless(data: kpis.Dashboard) -> Chart:
    share = data.returnless
    items = [
        (_way_back(kind), float(count), _number(count)) for kind, count in share.by_way_back.items()
    ]
    return Chart(
        key="returnless",
        title=_("Ways back chosen"),
        about=_(
            "Routed returns asked for in the period, by the way back routing chose; keeping or "
            "donating the item is returnless."
        ),
        figure=bar_chart(items, _("Routed returns"), _("Way back"), _number, whole=True),
        summary=_(
            "%(returnless)s of %(routed)s routed returns were returnless (%(share)s).",
            returnless=share.returnless,
            routed=share.routed,
            share=_percent(share.share),
        ),
        headers=[_("Way back"), _("Routed returns")],
        rows=[[label, text] for label, _, text in items],
        figures=[
            (_("Returnless share"), _percent(share.share)),
            (_("Routed returns"), _number(share.routed)),
        ],
    )


def _savings(data: kpis.Dashboard) -> Chart:
    savings, currency = data.savings, data.currency
    by_kind = savings.by_way_back()
    items = [
        (_way_back(kind), float(saved.amount), _money(saved.amount, currency))
        for kind, (_count, saved) in by_kind.items()
    ]
    notes = []
    if savings.without_origin:
        notes.append(
            ngettext(
                "%(num)d routed return had no allowed way back to an origin destination: it "
                "is not counted.",
                "%(num)d routed returns had no allowed way back to an origin destination: "
                "they are not counted.",
                savings.without_origin,
            )
        )
    return Chart(
        key="routing_savings",
        title=_("Saved by routing"),
        about=_(
            "For each routed return asked for in the period: the net cost of the cheapest "
            "allowed option to an origin destination in its route, less the net cost of the "
            "option chosen. By the way back chosen, in %(currency)s.",
            currency=currency,
        ),
        figure=bar_chart(
            items, _("Saved (%(currency)s)", currency=currency), _("Way back"), _amount_tick
        ),
        summary=_(
            "%(saved)s saved over %(count)s routed returns compared with shipping each to the "
            "origin.",
            saved=_money(savings.saved.amount, currency),
            count=len(savings.counted),
        ),
        headers=[_("Way back"), _("Returns counted"), _("Saved")],
        rows=[
            [_way_back(kind), _number(count), _money(saved.amount, currency)]
            for kind, (count, saved) in by_kind.items()
        ],
        figures=[
            (_("Saved"), _money(savings.saved.amount, currency)),
            (_("Returns counted"), _number(len(savings.counted))),
        ],
        notes=notes,
    )


# CSV: the numbers as data, one function per chart ----------------------------------------

Rows = tuple[list[str], list[list[Any]]]


def _csv_returns_per_day(data: kpis.Dashboard) -> Rows:
    return ["day", "returns"], [[d.day.isoformat(), d.returns] for d in data.returns_per_day]


def _csv_return_rate(data: kpis.Dashboard) -> Rows:
    return (
        ["sku", "title", "units_sold", "units_returned", "return_rate"],
        [[r.sku, r.title, r.sold, r.returned, _fraction(r.rate)] for r in data.return_rates],
    )


def _csv_reasons(data: kpis.Dashboard) -> Rows:
    return ["reason", "return_lines"], [[c.reason, c.lines] for c in data.reasons]


def _csv_refund_time(data: kpis.Dashboard) -> Rows:
    return (
        ["from_hours", "to_hours", "refunds"],
        [
            [_hours(low), "" if high is None else _hours(high), count]
            for low, high, count in data.refund_times.buckets
        ],
    )


def _csv_return_cost(data: kpis.Dashboard) -> Rows:
    cost = data.cost
    return (
        ["measure", "amount", "currency"],
        [
            ["labels", cost.labels.amount, data.currency],
            ["handling", cost.handling.amount, data.currency],
            ["return_cost", cost.total.amount, data.currency],
            ["order_revenue", cost.revenue.amount, data.currency],
            ["share", "" if cost.share is None else _fraction(cost.share), ""],
        ],
    )


def _csv_returnless(data: kpis.Dashboard) -> Rows:
    share = data.returnless
    return (
        ["way_back", "returns", "share"],
        [
            [kind, count, _fraction(Decimal(count) / Decimal(share.routed))]
            for kind, count in share.by_way_back.items()
        ],
    )


def _csv_routing_savings(data: kpis.Dashboard) -> Rows:
    """One row per routed return, the sum's terms: a spreadsheet can check the arithmetic."""
    return (
        [
            "rma",
            "chosen_option",
            "chosen_net_cost",
            "origin_option",
            "origin_net_cost",
            "saved",
            "currency",
        ],
        [
            [
                r.rma,
                r.chosen,
                r.chosen_cost.amount,
                r.origin_option,
                "" if r.origin_cost is None else r.origin_cost.amount,
                "" if r.saved is None else r.saved.amount,
                data.currency,
            ]
            for r in data.savings.returns
        ],
    )


CSV: dict[str, Callable[[kpis.Dashboard], Rows]] = {
    "returns_per_day": _csv_returns_per_day,
    "return_rate": _csv_return_rate,
    "reasons": _csv_reasons,
    "refund_time": _csv_refund_time,
    "return_cost": _csv_return_cost,
    "returnless": _csv_returnless,
    "routing_savings": _csv_routing_savings,
}


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _fraction(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001")))


def _hours(value: timedelta) -> str:
    return format(Decimal(int(value.total_seconds())) / 3600, "f")


# Words and numbers for the reader ---------------------------------------------------------


def _number(value: float | int) -> str:
    return str(format_decimal(value, format="#,##0.##"))


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else str(format_percent(value, format="#,##0.#%"))


def _percent_tick(value: float) -> str:
    return str(format_percent(value, format="#,##0.#%"))


def _amount_tick(value: float) -> str:
    return str(format_decimal(value, format="#,##0.##"))


def _money(amount: Decimal, currency: str) -> str:
    return str(format_currency(amount, currency))


def _short_day(day: date) -> str:
    return str(format_skeleton("MMMd", day, locale=get_locale()))


def _long_day(day: date) -> str:
    return str(format_skeleton("yMMMd", day, locale=get_locale()))


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 3600:
        return _("%(minutes)s min", minutes=format_decimal(round(seconds / 60, 1)))
    if seconds < 48 * 3600:
        return _("%(hours)s h", hours=format_decimal(round(seconds / 3600, 1)))
    return _("%(days)s days", days=format_decimal(round(seconds / 86400, 1)))


def _length(value: timedelta) -> str:
    if value < timedelta(days=1):
        hours = int(value.total_seconds() // 3600)
        return ngettext("%(num)d hour", "%(num)d hours", hours)
    return ngettext("%(num)d day", "%(num)d days", value.days)


def _span(low: timedelta, high: timedelta | None) -> str:
    if high is None:
        return _("%(length)s or more", length=_length(low))
    if not low:
        return _("Under %(length)s", length=_length(high))
    return _("%(low)s to %(high)s", low=_length(low), high=_length(high))


def _reason(code: str) -> str:
    return str(REASONS.get(code, code.replace("_", " ").capitalize()))


def _way_back(kind: str) -> str:
    return str(WAYS_BACK.get(kind, kind))


def _product(rate: kpis.ProductRate) -> str:
    return rate.sku or rate.title or _("(no SKU)")
