"""Applies a compiled ``Policy`` to a return request, line by line, and explains each outcome.

Two entry points. ``evaluate(policy, facts)`` decides a request described as plain facts
(``RequestFacts`` with one ``LineFacts`` per line): the preview API and the policy editor call
it. ``decide(request, order, policy, today)`` builds those facts from the domain's
``ReturnRequest`` and ``Order`` and calls ``evaluate``.

For each line the rules are read in order: a matching rule's settings accumulate (later ones
override), and the first matching rule with a decision ends the line. Without a decision a
line inside its window is approved and one outside it declined. Then the statutory floor (EU,
EEA and UK buyers may withdraw within 14 days of delivery) and the photo requirement have their
say. Every ``LineDecision`` names the rules that matched and carries ``Message`` values from
which its explanation is rendered in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from ..domain.money import Money
from ..domain.orders import Order
from ..domain.returns import Condition, Reason, ReturnRequest
from .messages import DEFAULT_LOCALE, Message, render_all
from .policy import Outcome, Policy, RefundTrigger, Resolution, RestockingFee

Converter = Callable[[Money, str], Money]

# The EU's 27 members, the other EEA states (Iceland, Liechtenstein, Norway) and the UK: buyers
# there may withdraw from a distance purchase within 14 days of delivery.
STATUTORY_COUNTRIES: frozenset[str] = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO GB".split()
)
STATUTORY_DAYS = 14
CATEGORY_TAG = "category:"  # an order line tag ``category:shoes`` gives the category ``shoes``
PHOTOS_MISSING_QUEUE = "photos-missing"

_STRICTNESS = {RefundTrigger.FIRST_SCAN: 0, RefundTrigger.RECEIVED: 1, RefundTrigger.INSPECTED: 2}
_ZERO = Decimal(0)
_APPROVE, _DECLINE = Outcome.APPROVE, Outcome.DECLINE
_HUNDRED = Decimal(100)


class NoExchangeRate(ValueError):
    """An amount must be compared in another currency and no converter was given."""


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a return request knows beyond its lines; every field is optional."""

    platform: str = ""  # the platform slug: shopify, amazon, aliexpress, sandbox …
    country: str = ""  # the buyer's ISO 3166 alpha-2 country; decide() fills it from addresses
    customer_returns_90d: int = 0
    customer_return_rate: Decimal = _ZERO  # 0 to 1
    risk_score: Decimal = _ZERO
    order_total: Money | None = None  # order_value; else the sum of the requested lines


@dataclass(frozen=True, slots=True)
class LineFacts:
    """One requested line, as plain facts."""

    unit_price: Money
    quantity: int = 1
    sku: str = ""
    tags: frozenset[str] = frozenset()
    category: str = ""
    reason: str = Reason.OTHER.value  # a Reason value
    condition: str = Condition.UNUSED.value  # a Condition value
    photos: int = 0
    ordered_at: datetime | None = None
    delivered_at: datetime | None = None
    ref: str = ""  # the order line's external id, or the line's index in a preview


@dataclass(frozen=True, slots=True)
class RequestFacts:
    today: date  # the UTC date the buyer asked on
    lines: tuple[LineFacts, ...]
    context: RequestContext = RequestContext()


# LineDecision and Decision are slotted dataclasses, not frozen ones: a frozen dataclass's
# __init__ sets each field through object.__setattr__, which made building one cost more than
# deciding the line (bench/rules.py). Treat them as values all the same: nothing changes them.
@dataclass(slots=True)
class LineDecision:
    order_line_external_id: str  # or the line's index, for a preview
    outcome: Outcome
    reason: str  # a code: WITHIN_WINDOW, RETURN_PERIOD_ENDED, FINAL_SALE, PHOTOS_MISSING …
    rule_ids: tuple[str, ...] = ()  # every rule that matched, in order
    queue: str = ""
    rule_id: str = ""  # the rule that decided; "" when the defaults did
    returnless: bool = False
    refund_trigger: RefundTrigger = RefundTrigger.RECEIVED
    window_days: int = 0
    resolutions: tuple[Resolution, ...] = ()
    restocking_fee: Money | None = None  # in the line's currency
    bonus_credit_percent: Decimal = _ZERO
    require_photos: int = 0
    statutory: bool = False  # the statutory floor changed the outcome
    messages: tuple[Message, ...] = ()  # what explains the outcome first, then notes

    @property
    def message(self) -> Message:
        return self.messages[0]

    @property
    def explanation(self) -> str:
        return render_all(self.messages, DEFAULT_LOCALE)

    def explain(self, locale: str = DEFAULT_LOCALE) -> str:
        return render_all(self.messages, locale)


@dataclass(slots=True)
class Decision:
    lines: tuple[LineDecision, ...]
    # The strictest trigger among the lines not declined (inspected > received > first_scan),
    # so no line's money leaves earlier than its own rules allow; the policy's default when
    # every line is declined.
    refund_trigger: RefundTrigger
    policy_version: int | None = None  # the revision the policy was compiled with

    @property
    def outcome(self) -> Outcome:
        """approve, decline or review when every line agrees, else partial."""
        first = self.lines[0].outcome
        for line in self.lines:
            if line.outcome is not first:
                return Outcome.PARTIAL
        return first

    @property
    def effective_outcome(self) -> Outcome:
        """What the return as a whole does next: review while any line needs a person, approve
        when any line may come back, decline only when every line is declined."""
        outcomes = {line.outcome for line in self.lines}
        if Outcome.REVIEW in outcomes:
            return Outcome.REVIEW
        if Outcome.APPROVE in outcomes:
            return Outcome.APPROVE
        return Outcome.DECLINE

    @property
    def queue(self) -> str:
        """The queue of the first line in review, "" when none is."""
        return next((line.queue for line in self.lines if line.queue), "")

    def explain(self, locale: str = DEFAULT_LOCALE) -> str:
        return " ".join(line.explain(locale) for line in self.lines)


def decide(
    request: ReturnRequest,
    order: Order,
    policy: Policy,
    today: date,
    convert: Converter | None = None,
    context: RequestContext | None = None,
) -> Decision:
    """Decide every line of ``request`` against ``policy`` as of ``today`` (UTC).

    The buyer's country is the context's, else the request's buyer address, else the order's
    shipping address. A line's category is its first tag ``category:<name>``.
    """
    context = context or RequestContext()
    if not context.country:
        address = request.buyer_address or order.shipping_address
        context = replace(context, country=address.country)
    if context.order_total is None:  # order_value is the order's total, as in a preview
        context = replace(context, order_total=order.total)
    lines = []
    for requested in request.lines:
        line = order.line(requested.order_line_external_id)
        lines.append(
            LineFacts(
                unit_price=line.unit_price,
                quantity=requested.quantity,
                sku=line.sku,
                tags=frozenset(line.tags),
                category=category_of(line.tags),
                reason=requested.reason.value,
                condition=requested.condition.value,
                photos=requested.photo_count,
                ordered_at=order.placed_at,
                delivered_at=line.delivered_at or order.delivered_at,
                ref=requested.order_line_external_id,
            )
        )
    return evaluate(policy, RequestFacts(today, tuple(lines), context), convert)


def category_of(tags: tuple[str, ...] | frozenset[str]) -> str:
    for tag in tags:
        if tag.startswith(CATEGORY_TAG):
            return tag[len(CATEGORY_TAG) :]
    return ""


def evaluate(policy: Policy, facts: RequestFacts, convert: Converter | None = None) -> Decision:
    """Decide a request described as plain facts. ``convert`` turns money into another
    currency; it is needed only when an amount must be compared across currencies."""
    lines = facts.lines
    context = facts.context
    today = facts.today
    if len(lines) == 1:  # the common case, without the lists
        (line,) = lines
        value = _value_in(line, policy.currency, convert) if policy.uses_amounts else None
        order_value = value
        if policy.uses_order_value and context.order_total is not None:
            order_value = _amount_in(context.order_total, policy.currency, convert)
        only = _decide_line(policy, line, value, order_value, context, today, convert)
        trigger = only.refund_trigger if only.outcome is not _DECLINE else policy.refund_trigger
        return Decision((only,), trigger, policy.revision)
    values: tuple[Decimal | None, ...]
    if policy.uses_amounts:
        currency = policy.currency
        values = tuple([_value_in(line, currency, convert) for line in lines])
    else:
        values = (None,) * len(lines)
    order_value = None
    if policy.uses_order_value:
        total = context.order_total
        if total is not None:
            order_value = _amount_in(total, policy.currency, convert)
        else:
            order_value = sum([value or _ZERO for value in values], _ZERO)
    decided = tuple(
        [
            _decide_line(policy, line, value, order_value, context, today, convert)
            for line, value in zip(lines, values, strict=True)
        ]
    )
    trigger = _refund_trigger(policy, decided)
    return Decision(decided, trigger, policy.revision)


def _decide_line(
    policy: Policy,
    line: LineFacts,
    value: Decimal | None,
    order_value: Decimal | None,
    context: RequestContext,
    today: date,
    convert: Converter | None,
) -> LineDecision:
    delivered = line.delivered_at
    if delivered is None:
        days = None
    elif delivered.tzinfo is UTC:
        days = (today - delivered.date()).days
    else:
        days = (today - _utc_date(delivered)).days
    ordered = line.ordered_at
    country = context.country
    tags = line.tags
    reason = line.reason
    condition = line.condition
    (
        matched,
        decider,
        window,
        trigger,
        resolutions,
        photos_required,
        fee,
        bonus,
        returnless,
    ) = policy.chain(
        (
            days,
            None
            if ordered is None or not policy.uses_days_since_order
            else (today - _utc_date(ordered)).days,
            country,
            context.platform,
            line.sku,
            tags if type(tags) is frozenset else frozenset(tags),
            line.category,
            value,
            order_value,
            line.quantity,
            reason if type(reason) is str else str(reason),
            condition if type(condition) is str else str(condition),
            line.photos,
            context.customer_returns_90d,
            context.customer_return_rate,
            context.risk_score,
        )
    )

    ref = line.ref
    queue = rule_id = ""
    floor = False  # the statutory floor changed the outcome
    if decider is None:
        if days is None:
            outcome, reason = _APPROVE, "NOT_YET_DELIVERED"
            main = Message("line.not_yet_delivered", (ref,))
        elif days <= window:
            outcome, reason = _APPROVE, "WITHIN_WINDOW"
            main = Message("line.within_window", (ref, days, window))
        elif days <= STATUTORY_DAYS and country in STATUTORY_COUNTRIES:
            outcome, reason, floor = _APPROVE, "STATUTORY_WITHDRAWAL", True
            main = Message("line.statutory_window", (ref, days, window, country))
        else:
            outcome, reason = _DECLINE, "RETURN_PERIOD_ENDED"
            main = Message("line.window_ended", (ref, days, window))
    else:
        outcome, reason, rule_id = decider.decision, decider.reason, decider.id
        if outcome is _DECLINE:
            if (
                (days is None or days <= STATUTORY_DAYS)
                and country in STATUTORY_COUNTRIES
                and not decider.statutory_exception
            ):
                main = Message("line.statutory_rule", (ref, rule_id, reason, country))
                outcome, reason, floor = _APPROVE, "STATUTORY_WITHDRAWAL", True
            else:
                main = Message("line.rule_declined", (ref, rule_id, reason))
        elif outcome is _APPROVE:
            main = Message("line.rule_approved", (ref, rule_id))
        else:
            queue = decider.queue
            main = Message("line.rule_review", (ref, rule_id, queue))

    messages: tuple[Message, ...] = (main,)
    if outcome is _APPROVE and line.photos < photos_required:
        outcome, reason, queue = Outcome.REVIEW, "PHOTOS_MISSING", PHOTOS_MISSING_QUEUE
        missing = Message("line.photos_missing", (ref, photos_required, line.photos))
        messages = (missing, main)
    fee_money = None
    if outcome is not _DECLINE and (returnless or fee is not None or bonus):
        if returnless:
            messages += (Message("line.returnless", ()),)
        if fee is not None:
            fee_money = _fee(fee, line, policy.currency, convert)
            if not fee_money.is_zero():
                messages += (Message("line.restocking_fee", (fee_money,)),)
        if bonus and Resolution.STORE_CREDIT in resolutions:
            messages += (Message("line.bonus_credit", (bonus,)),)
    return LineDecision(
        ref,
        outcome,
        reason,
        matched,
        queue,
        rule_id,
        returnless,
        trigger,
        window,
        resolutions,
        fee_money,
        bonus,
        photos_required,
        floor,
        messages,
    )


def _refund_trigger(policy: Policy, lines: tuple[LineDecision, ...]) -> RefundTrigger:
    triggers = [line.refund_trigger for line in lines if line.outcome is not _DECLINE]
    if not triggers:
        return policy.refund_trigger
    return max(triggers, key=_STRICTNESS.__getitem__)


def _utc_date(moment: datetime) -> date:
    if moment.tzinfo is None or moment.tzinfo is UTC:
        return moment.date()
    return moment.astimezone(UTC).date()


def _value_in(line: LineFacts, currency: str, convert: Converter | None) -> Decimal:
    """The line's value (unit price × quantity) in ``currency``."""
    price = line.unit_price
    if price.currency == currency:
        return price.amount * line.quantity
    return _amount_in(price * line.quantity, currency, convert)


def _amount_in(money: Money, currency: str, convert: Converter | None) -> Decimal:
    if money.currency == currency:
        return money.amount
    if convert is None:
        raise NoExchangeRate(
            f"no exchange rate to compare {money.currency} with the policy currency {currency}"
        )
    return convert(money, currency).amount


def _fee(fee: RestockingFee, line: LineFacts, currency: str, convert: Converter | None) -> Money:
    """The restocking fee in the line's currency, never more than the line is worth."""
    value = line.unit_price * line.quantity
    if fee.percent is not None:
        charged = Money.of(value.amount * fee.percent / _HUNDRED, value.currency)
    else:
        amount = Money.of(fee.amount or _ZERO, currency)
        if amount.currency != value.currency:
            if convert is None:
                raise NoExchangeRate(
                    f"no exchange rate to charge a {currency} restocking fee in {value.currency}"
                )
            amount = convert(amount, value.currency)
        charged = amount
    return charged if charged <= value else value
