"""Every built-in carrier keeps the Carrier contract and is found by the registry."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from carriers.dropoff import DropOffCarrier
from carriers.karrio import KarrioCarrier
from carriers.ratecard import RateCardCarrier
from connector.domain import Address, Label, Money, Parcel, RateQuote, Shipment
from connector.ports import AdapterContext, Carrier, Credentials
from connector.registry import Registry, capabilities

CONTEXT = AdapterContext(data_dir=Path("/nonexistent"), public_url="https://returns.example")

# slug → (class, settings of an account, a buyer the account serves)
CARRIERS = {
    "ratecard": (
        RateCardCarrier,
        {"card": "eu-3pl"},
        Address(name="Jan", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"),
    ),
    "dropoff": (
        DropOffCarrier,
        {"network": "us-hubs"},
        Address(name="Jo", line1="1 Main St", city="Austin", postal_code="78701", country="US"),
    ),
    "karrio": (
        KarrioCarrier,
        {"carrier_name": "ups", "test_mode": True},
        Address(name="Jan", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"),
    ),
}
# Carriers whose quotes and labels come from files run quote → buy → void → track here; the
# ones that call a carrier's API run that cycle against its stubbed API in their own module.
OFFLINE = ("dropoff", "ratecard")
DESTINATION = Address(
    name="Acme Returns", line1="Celsiusweg 21", city="Venlo", postal_code="5928 PR", country="NL"
)


def make(slug: str) -> Carrier:
    cls, settings, _ = CARRIERS[slug]
    carrier = cls(Credentials("acct-1", settings=settings), CONTEXT)
    assert isinstance(carrier, Carrier)
    return carrier


def shipment_for(slug: str) -> Shipment:
    return Shipment(
        reference="R-1",
        from_address=CARRIERS[slug][2],
        to_address=DESTINATION,
        parcel=Parcel(Decimal("0.8"), Decimal(25), Decimal(18), Decimal(6)),
        declared_value=Money.of("40.00", "EUR"),
    )


def test_the_registry_discovers_both_carriers() -> None:
    registry = Registry.discover()
    assert registry.carriers["ratecard"] is RateCardCarrier
    assert registry.carriers["dropoff"] is DropOffCarrier


@pytest.mark.parametrize("slug", sorted(CARRIERS))
def test_carrier_implements_the_carrier_port(slug: str) -> None:
    carrier = Registry.discover().carrier(
        slug, Credentials("acct-1", settings=CARRIERS[slug][1]), CONTEXT
    )
    assert isinstance(carrier, Carrier)
    assert carrier.slug == slug
    assert "Carrier" in capabilities(carrier)
    assert "Carrier" in capabilities(type(carrier))


@pytest.mark.parametrize("slug", OFFLINE)
def test_quote_buy_void_track_keep_the_contract(slug: str) -> None:
    carrier = make(slug)
    shipment = shipment_for(slug)
    quotes = carrier.quote(shipment)
    assert quotes and all(isinstance(q, RateQuote) for q in quotes)
    assert all((q.carrier, q.account) == (slug, "acct-1") for q in quotes)

    cheapest = min(quotes, key=lambda q: q.price.amount)
    label = carrier.buy(shipment, cheapest, f"{slug}:1:1")
    assert isinstance(label, Label)
    assert (label.carrier, label.service, label.price) == (slug, cheapest.service, cheapest.price)
    assert label.tracking_number and label.pdf.startswith(b"%PDF")
    assert label.qr_payload and label.qr_png.startswith(b"\x89PNG")
    assert carrier.buy(shipment, cheapest, f"{slug}:1:1").tracking_number == label.tracking_number

    assert carrier.void(label) is None  # type: ignore[func-returns-value]
    assert carrier.track(label.tracking_number) == []
