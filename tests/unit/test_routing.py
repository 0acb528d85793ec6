"""Every way back has an expected net cost anyone can check; the cheapest allowed one wins."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.domain.logistics import RateQuote
from connector.domain.money import Money
from connector.domain.orders import Address
from connector.domain.returns import Condition, Reason
from connector.errors import ValidationError
from connector.routing import (
    DEFAULT_RESALE_TABLE,
    Candidate,
    Destination,
    Item,
    OptionKind,
    ResaleTable,
    Route,
    RouteOption,
    RoutingSettings,
    route,
)
from connector.routing.engine import NoRoute

WAREHOUSE_ADDRESS = Address("Returns desk", "1 Dock Road", "Newark", "07114", "US")


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def _destination(
    id: str = "nj",
    handling: Money | None = None,
    resale_factor: str = "0.80",
) -> Destination:
    return Destination(
        id=id,
        name=f"Warehouse {id}",
        kind="warehouse",
        address=WAREHOUSE_ADDRESS,
        handling=usd("5.00") if handling is None else handling,
        resale_factor=Decimal(resale_factor),
    )


def _candidate(
    price: Money,
    destination: Destination | None = None,
    transit_days: int = 4,
    carrier: str = "ratecard",
    service: str = "ground",
    kind: OptionKind = OptionKind.LABEL,
) -> Candidate:
    quote = RateQuote(
        carrier=carrier,
        service=service,
        account="default",
        price=price,
        transit_days_min=max(1, transit_days - 2),
        transit_days_max=transit_days,
    )
    return Candidate(destination or _destination(), quote, kind)


def _item(
    value: Money,
    reason: Reason = Reason.SIZE_TOO_SMALL,
    condition: Condition = Condition.UNUSED,
) -> Item:
    return Item(value, reason, condition)


RATES = {
    ("EUR", "USD"): Decimal("1.10"),
    ("GBP", "USD"): Decimal("1.25"),
    ("JPY", "USD"): Decimal("0.0067"),
}


def convert(money: Money, currency: str) -> Money:
    return money.convert(currency, RATES[(money.currency, currency)])


def _option(result: Route, option_id: str) -> RouteOption:
    return next(option for option in result.options if option.id == option_id)


def no_conversion(money: Money, currency: str) -> Money:
    raise AssertionError(f"nothing should need converting, asked for {money} in {currency}")


def test_net_cost_is_shipping_plus_handling_minus_recovery():
    # 100.00 × resale 0.80 × P(unused) 0.90 = 72.00 recovered; 12.00 + 5.00 − 72.00 = −55.00
    result = route([_item(usd("100.00"))], [_candidate(usd("12.00"))], "USD", no_conversion)

    label = result.options[0]
    assert label.shipping == usd("12.00")
    assert label.handling == usd("5.00")
    assert label.duties == usd("0")
    assert label.time_cost == usd("0")
    assert label.recovery == usd("72.00")
    assert label.net_cost == usd("-55.00")


def test_recovery_sums_every_item():
    # 100.00 × 0.80 × 0.90 = 72.00 and 50.00 × 0.80 × 0.40 (used) = 16.00
    items = [_item(usd("100.00")), _item(usd("50.00"), condition=Condition.USED)]

    result = route(items, [_candidate(usd("12.00"))], "USD", no_conversion)

    assert result.options[0].recovery == usd("88.00")
    assert result.options[0].net_cost == usd("-71.00")


@pytest.mark.parametrize(
    ("reason", "condition", "probability"),
    [
        (Reason.SIZE_TOO_SMALL, Condition.UNUSED, "0.90"),
        (Reason.UNWANTED, Condition.OPENED, "0.75"),
        (Reason.STYLE, Condition.USED, "0.40"),
        (Reason.OTHER, Condition.DAMAGED, "0.05"),
        (Reason.DEFECTIVE, Condition.UNUSED, "0.18"),  # 0.90 × 0.20
        (Reason.DAMAGED_IN_TRANSIT, Condition.OPENED, "0.225"),  # 0.75 × 0.30
        (Reason.NOT_AS_DESCRIBED, Condition.USED, "0.32"),  # 0.40 × 0.80
        (Reason.WRONG_ITEM, Condition.UNUSED, "0.81"),  # 0.90 × 0.90
    ],
)
def test_resale_probability_is_condition_scaled_by_reason(reason, condition, probability):
    assert DEFAULT_RESALE_TABLE.probability(reason, condition) == Decimal(probability)


def test_condition_missing_from_the_table_is_never_resold():
    table = ResaleTable(by_condition={Condition.UNUSED: Decimal("1")})

    assert table.probability(Reason.UNWANTED, Condition.DAMAGED) == 0


def test_recovery_uses_resale_factor_times_the_table_probability():
    # 200.00 × resale 0.50 × (unused 0.90 × defective 0.20) = 18.00
    item = _item(usd("200.00"), reason=Reason.DEFECTIVE)
    candidate = _candidate(usd("1.00"), _destination(resale_factor="0.50"))

    result = route([item], [candidate], "USD", no_conversion)

    assert result.options[0].recovery == usd("18.00")


def test_recovery_follows_a_merchant_table():
    table = ResaleTable(
        by_condition={Condition.OPENED: Decimal("0.60")},
        reason_factor={Reason.COLOR: Decimal("0.50")},
    )
    # 80.00 × 0.80 × 0.60 × 0.50 = 19.20
    item = _item(usd("80.00"), reason=Reason.COLOR, condition=Condition.OPENED)

    result = route(
        [item],
        [_candidate(usd("1.00"))],
        "USD",
        no_conversion,
        settings=RoutingSettings(resale=table),
    )

    assert result.options[0].recovery == usd("19.20")


def test_keep_item_costs_and_recovers_nothing():
    result = route([_item(usd("10.00"))], [], "USD", no_conversion)

    keep = result.chosen_option
    assert keep.kind is OptionKind.KEEP_ITEM
    assert keep.id == "keep_item"
    assert keep.destination == ""
    assert keep.net_cost == usd("0")
    assert keep.recovery == usd("0")
    assert keep.transit_days == 0


def test_keep_item_is_chosen_when_every_label_costs_more_than_it_recovers():
    # A defective 10.00 item recovers 10.00 × 0.80 × 0.18 = 1.44 against 8.00 + 5.00 to ship
    item = _item(usd("10.00"), reason=Reason.DEFECTIVE)
    candidates = [
        _candidate(usd("8.00"), service="ground"),
        _candidate(usd("15.00"), service="express", transit_days=1),
    ]

    result = route([item], candidates, "USD", no_conversion)

    assert result.chosen == "keep_item"
    assert [o.net_cost for o in result.options] == [
        usd("11.56"),
        usd("18.56"),
        usd("0"),
        usd("0"),
    ]


def test_label_is_chosen_when_recovery_exceeds_its_cost():
    # 100.00 unused recovers 72.00 against 12.00 + 5.00
    result = route([_item(usd("100.00"))], [_candidate(usd("12.00"))], "USD", no_conversion)

    assert result.chosen == "label:nj:ratecard:ground"
    assert result.chosen_option.kind is OptionKind.LABEL


def test_cheapest_of_several_destinations_is_chosen():
    near = _destination("nj", handling=usd("5.00"), resale_factor="0.80")
    hub = _destination("hub", handling=usd("1.00"), resale_factor="0.80")
    candidates = [_candidate(usd("12.00"), near), _candidate(usd("12.00"), hub)]

    result = route([_item(usd("100.00"))], candidates, "USD", no_conversion)

    assert result.chosen == "label:hub:ratecard:ground"
    assert result.chosen_option.net_cost == usd("-59.00")


def test_amounts_in_other_currencies_are_converted_to_the_merchant_currency():
    # item 10000 JPY → 67.00 USD, recovery 67.00 × 1.00 × 0.90 = 60.30
    # quote 10.00 EUR → 11.00 USD, handling 4.00 GBP → 5.00 USD; net 11 + 5 − 60.30 = −44.30
    destination = _destination(handling=Money.of("4.00", "GBP"), resale_factor="1.00")
    candidate = _candidate(Money.of("10.00", "EUR"), destination)
    item = _item(Money.of("10000", "JPY"))

    result = route([item], [candidate], "USD", convert)

    label = result.options[0]
    assert label.shipping == usd("11.00")
    assert label.handling == usd("5.00")
    assert label.recovery == usd("60.30")
    assert label.net_cost == usd("-44.30")
    assert result.currency == "USD"


def test_only_foreign_amounts_are_sent_to_the_converter():
    asked: list[tuple[str, str]] = []

    def recording(money: Money, currency: str) -> Money:
        asked.append((money.currency, currency))
        return convert(money, currency)

    route([_item(usd("100.00"))], [_candidate(Money.of("10.00", "EUR"))], "USD", recording)

    assert asked == [("EUR", "USD")]


def test_option_slower_than_the_limit_is_not_allowed_and_says_why():
    slow = _candidate(usd("1.00"), service="economy", transit_days=9)
    fast = _candidate(usd("12.00"), service="express", transit_days=2)

    result = route(
        [_item(usd("100.00"))],
        [slow, fast],
        "USD",
        no_conversion,
        settings=RoutingSettings(max_transit_days=5),
    )

    slow_option = result.options[0]
    assert not slow_option.allowed
    assert slow_option.why_not == "takes up to 9 days, over the limit of 5"
    assert result.chosen == "label:nj:ratecard:express"
    assert result.options[1].allowed
    assert result.options[1].why_not == ""


def test_option_exactly_at_the_transit_limit_is_allowed():
    result = route(
        [_item(usd("100.00"))],
        [_candidate(usd("12.00"), transit_days=5)],
        "USD",
        no_conversion,
        settings=RoutingSettings(max_transit_days=5),
    )

    assert result.options[0].allowed
    assert result.chosen == "label:nj:ratecard:ground"


def test_goods_worth_more_than_the_returnless_limit_must_come_back():
    item = _item(usd("10.00"), reason=Reason.DEFECTIVE)
    settings = RoutingSettings(keep_item_max_value=usd("9.99"))

    result = route([item], [_candidate(usd("8.00"))], "USD", no_conversion, settings=settings)

    keep = _option(result, "keep_item")
    assert keep.kind is OptionKind.KEEP_ITEM
    assert not keep.allowed
    assert keep.why_not == "the goods are worth 10.00 USD, over the returnless limit of 9.99 USD"
    assert result.chosen == "label:nj:ratecard:ground"
    assert result.chosen_option.net_cost == usd("11.56")


def test_no_allowed_option_raises_no_route():
    with pytest.raises(NoRoute):
        route(
            [_item(usd("10.00"))],
            [_candidate(usd("8.00"), transit_days=9)],
            "USD",
            no_conversion,
            settings=RoutingSettings(max_transit_days=5, keep_item_max_value=usd("1.00")),
        )


def test_a_route_needs_at_least_one_item():
    with pytest.raises(ValueError, match="at least one item"):
        route([], [_candidate(usd("8.00"))], "USD", no_conversion)


def test_ties_are_broken_by_transit_days():
    slow = _candidate(usd("12.00"), service="ground", transit_days=6)
    fast = _candidate(usd("12.00"), service="priority", transit_days=2)

    result = route([_item(usd("100.00"))], [slow, fast], "USD", no_conversion)

    assert result.options[0].net_cost == result.options[1].net_cost
    assert result.chosen == "label:nj:ratecard:priority"


def test_dropoff_candidate_is_an_option_of_its_own_kind():
    dropoff = _candidate(usd("3.00"), carrier="dropoff", service="qr", kind=OptionKind.DROPOFF)

    result = route([_item(usd("100.00"))], [dropoff], "USD", no_conversion)

    assert result.chosen == "dropoff:nj:dropoff:qr"
    assert result.chosen_option.kind is OptionKind.DROPOFF


def test_option_as_dict_gives_decimal_strings_consistent_with_net_cost():
    result = route([_item(usd("100.00"))], [_candidate(usd("12.00"))], "USD", no_conversion)

    label = result.options[0].as_dict()

    assert label == {
        "id": "label:nj:ratecard:ground",
        "kind": "label",
        "destination": "nj",
        "carrier": "ratecard",
        "service": "ground",
        "shipping": "12.00",
        "handling": "5.00",
        "duties": "0.00",
        "recovery": "72.00",
        "time_cost": "0.00",
        "net_cost": "-55.00",
        "transit_days": 4,
        "allowed": True,
        "why_not": "",
        "account": label["account"],
    }
    assert label["account"]  # the account that quoted, so the label is bought on it
    components = (
        Decimal(label["shipping"])
        + Decimal(label["handling"])
        + Decimal(label["duties"])
        + Decimal(label["time_cost"])
        - Decimal(label["recovery"])
    )
    assert Decimal(label["net_cost"]) == components


def test_route_as_dict_lists_every_option_and_the_choice():
    result = route([_item(usd("100.00"))], [_candidate(usd("12.00"))], "USD", no_conversion)

    document = result.as_dict()

    assert document["chosen"] == "label:nj:ratecard:ground"
    assert document["currency"] == "USD"
    assert [option["id"] for option in document["options"]] == [
        "label:nj:ratecard:ground",
        "keep_item",
        "donate",
    ]


def test_explanation_shows_the_arithmetic_of_the_choice():
    result = route([_item(usd("100.00"))], [_candidate(usd("12.00"))], "USD", no_conversion)

    assert result.explain() == (
        "Chose label:nj:ratecard:ground: net -55.00 USD = shipping 12.00 + handling 5.00 + "
        "duties 0.00 + time 0.00 - recovery 72.00, the lowest of 2 allowed options."
    )


def test_donate_replaces_keep_item_when_the_merchant_resolves_returnless_returns_so():
    item = _item(usd("10.00"), reason=Reason.DEFECTIVE)
    settings = RoutingSettings(returnless="donate")

    result = route([item], [_candidate(usd("8.00"))], "USD", no_conversion, settings=settings)

    assert result.chosen == "donate"
    assert result.chosen_option.kind is OptionKind.DONATE
    assert result.chosen_option.net_cost == usd("0")
    keep = _option(result, "keep_item")
    assert not keep.allowed
    assert keep.why_not == "the merchant resolves returnless returns as donate"


def test_a_returnless_grant_from_the_policy_ignores_the_value_limit():
    settings = RoutingSettings(keep_item_max_value=usd("5.00"))

    result = route(
        [_item(usd("100.00"))], [], "USD", no_conversion, settings=settings, returnless_granted=True
    )

    assert result.chosen == "keep_item"


def test_own_shipment_is_priced_at_the_reimbursement_cap_for_each_destination():
    # 100.00 × 0.80 × 0.90 = 72.00 recovered; cap 6.00 + handling 5.00 + 10 days × 0.50
    near, far = _destination("nj"), _destination("hub", handling=usd("1.00"))
    settings = RoutingSettings(
        own_shipment_cap=usd("6.00"), own_shipment_days=10, cost_per_day=usd("0.50")
    )

    result = route(
        [_item(usd("100.00"))],
        [_candidate(usd("12.00"), near)],
        "USD",
        no_conversion,
        settings=settings,
        own_shipment_to=[near, far],
    )

    own = _option(result, "own_shipment:nj")
    assert own.kind is OptionKind.OWN_SHIPMENT
    assert (own.carrier, own.service, own.destination) == ("", "", "nj")
    assert own.shipping == usd("6.00")
    assert own.handling == usd("5.00")
    assert own.time_cost == usd("5.00")
    assert own.transit_days == 10
    assert own.recovery == usd("72.00")
    assert own.net_cost == usd("-56.00")
    # the far hub: 6.00 + 1.00 + 5.00 - 72.00; the label: 12.00 + 5.00 + 4 × 0.50 - 72.00
    assert _option(result, "own_shipment:hub").net_cost == usd("-60.00")
    assert _option(result, "label:nj:ratecard:ground").net_cost == usd("-53.00")
    assert result.chosen == "own_shipment:hub"


def test_own_shipment_is_not_offered_without_a_cap():
    result = route(
        [_item(usd("100.00"))],
        [_candidate(usd("12.00"))],
        "USD",
        no_conversion,
        own_shipment_to=[_destination()],
    )

    assert [o.kind for o in result.options].count(OptionKind.OWN_SHIPMENT) == 0


def test_own_shipment_slower_than_the_limit_is_not_allowed():
    settings = RoutingSettings(
        own_shipment_cap=usd("1.00"), own_shipment_days=12, max_transit_days=7
    )

    result = route(
        [_item(usd("100.00"))],
        [_candidate(usd("12.00"))],
        "USD",
        no_conversion,
        settings=settings,
        own_shipment_to=[_destination()],
    )

    own = _option(result, "own_shipment:nj")
    assert not own.allowed
    assert own.why_not == "takes up to 12 days, over the limit of 7"
    assert result.chosen == "label:nj:ratecard:ground"


def test_settings_round_trip_through_their_document():
    document = {
        "resale": {
            "by_condition": {"unused": "0.95", "used": "0.30"},
            "reason_factor": {"DEFECTIVE": "0.10"},
        },
        "max_transit_days": 14,
        "cost_per_day": {"amount": "0.25", "currency": "EUR"},
        "label_validity_days": 21,
        "returnless": "donate",
        "keep_item_max_value": {"amount": "30", "currency": "USD"},
        "own_shipment_cap": {"amount": "8.00", "currency": "GBP"},
        "own_shipment_days": 9,
    }

    settings = RoutingSettings.parse(document)

    assert settings.resale.probability(Reason.DEFECTIVE, Condition.UNUSED) == Decimal("0.095")
    assert settings.resale.probability(Reason.UNWANTED, Condition.OPENED) == Decimal(0)
    assert settings.cost_per_day == Money.of("0.25", "EUR")
    assert RoutingSettings.parse(settings.as_dict()) == settings


def test_an_empty_settings_document_is_the_defaults():
    settings = RoutingSettings.parse({})

    assert settings == RoutingSettings()
    assert settings.resale is DEFAULT_RESALE_TABLE
    assert settings.label_validity_days == 30


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ({"colour": "red"}, "colour", "is not a routing setting"),
        ({"returnless": "sell"}, "returnless", "expected one of keep_item, donate"),
        ({"max_transit_days": 0}, "max_transit_days", "from 1 to 365"),
        ({"label_validity_days": "30"}, "label_validity_days", "from 1 to 365"),
        ({"cost_per_day": {"amount": "1"}}, "cost_per_day", "expected {amount, currency}"),
        (
            {"own_shipment_cap": {"amount": "-1", "currency": "USD"}},
            "own_shipment_cap",
            "must not be negative",
        ),
        ({"resale": {"by_condition": {"mint": "1"}}}, "resale.by_condition.mint", "expected one"),
        (
            {"resale": {"reason_factor": {"DEFECTIVE": "1.5"}}},
            "resale.reason_factor.DEFECTIVE",
            "from 0 to 1",
        ),
        ({"resale": {"by_reason": {}}}, "resale.by_reason", "is not part of a resale table"),
    ],
)
def test_bad_settings_name_the_field_at_fault(document, field, message):
    with pytest.raises(ValidationError) as raised:
        RoutingSettings.parse(document)

    assert raised.value.field == field
    assert message in raised.value.message
