"""Deterministic demo orders for the sandbox store: buyers abroad, goods shipped from China.

Each order is built from its own ``random.Random`` seeded with ``"<seed>:<index>"``, so order
*n* of a seed is the same however many orders are loaded and in whatever order. Buyers come from
eight countries, each paying in its own currency; deliveries spread over the 60 days before
``today`` so some orders fall outside a 30-day return window; every fifth order carries an item
worth more than 300 USD so value thresholds have something to trigger on.

The payloads are shaped like Shopify's order JSON plus the sandbox's own fields
(``delivered_at``, ``shipped_from``, ``export_reference``, and per line ``hs_code``,
``origin_country``, ``dimensions_mm``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from connector.domain.money import exponent


@dataclass(frozen=True)
class _Product:
    sku: str
    title: str
    usd: Decimal
    grams: int
    dimensions_mm: tuple[int, int, int]
    hs_code: str

    @property
    def sized(self) -> bool:
        return self.sku.startswith("APP-")


# sku, title, list price in USD, grams, dimensions in mm, HS code
_CATALOGUE = tuple(
    _Product(sku, title, Decimal(usd), grams, dimensions, hs_code)
    for sku, title, usd, grams, dimensions, hs_code in (
        ("APP-TEE-001", "Organic Cotton T-Shirt", "19.99", 180, (300, 250, 20), "610910"),
        ("APP-JEA-014", "Slim Fit Stretch Jeans", "54.99", 650, (350, 280, 50), "620342"),
        ("APP-DRS-027", "Floral Midi Dress", "42.99", 320, (320, 260, 40), "620444"),
        ("APP-JKT-033", "Water-Resistant Puffer Jacket", "119.99", 900, (400, 320, 90), "620193"),
        ("APP-SNK-041", "Knit Running Sneakers", "69.99", 780, (330, 210, 120), "640411"),
        ("ELE-EAR-102", "Wireless Noise-Cancelling Earbuds", "79.99", 120, (110, 90, 45), "851830"),
        ("ELE-KBD-115", "Mechanical Keyboard, 75% Layout", "109.99", 950, (360, 150, 50), "847160"),
        ("ELE-WCH-121", "AMOLED Smartwatch", "189.99", 210, (120, 90, 80), "851762"),
        ("ELE-CAM-130", "4K Action Camera Kit", "329.99", 560, (220, 160, 90), "852589"),
        ("ELE-HPH-138", "Over-Ear Headphones, ANC", "349.99", 480, (240, 200, 100), "851830"),
        ("ELE-DRN-150", "Foldable 4K Camera Drone", "449.99", 1200, (300, 220, 110), "880622"),
        ("HOM-MUG-201", "Stoneware Mug Set of 4", "29.99", 1600, (260, 260, 120), "691200"),
        ("HOM-LMP-214", "LED Desk Lamp, Qi Charger", "39.99", 1100, (420, 180, 90), "940521"),
        ("HOM-BLK-226", "Chunky Knit Throw Blanket", "44.99", 1400, (400, 300, 120), "630140"),
        ("HOM-FRY-233", "5.5 L Digital Air Fryer", "119.99", 5200, (380, 340, 360), "851660"),
        ("HOM-VAC-240", "Robot Vacuum, LiDAR Mapping", "399.99", 4300, (420, 420, 130), "850811"),
    )
)
_PREMIUM = tuple(p for p in _CATALOGUE if p.usd > 300)
_SIZES = ("S", "M", "L", "XL")


@dataclass(frozen=True)
class _Country:
    code: str
    currency: str
    locale: str
    usd_rate: Decimal  # units of the currency per US dollar, fixed so demo prices are stable
    buyers: tuple[tuple[str, str, str], ...]  # first name, last name, ASCII mailbox
    street: str  # "{n}" is the house number
    city: str
    zip: str
    province_code: str
    phone: str


_COUNTRIES = (
    _Country(
        "DE",
        "EUR",
        "de",
        Decimal("0.92"),
        (("Lena", "Müller", "lena.mueller"), ("Jonas", "Schäfer", "jonas.schaefer")),
        "Schillerstraße {n}",
        "Berlin",
        "10625",
        "",
        "+49 30 901820{n:02d}",
    ),
    _Country(
        "US",
        "USD",
        "en-US",
        Decimal("1"),
        (("Emily", "Carter", "emily.carter"), ("Marcus", "Lee", "marcus.lee")),
        "{n} Maple Street",
        "Portland",
        "97205",
        "OR",
        "+1 503-555-01{n:02d}",
    ),
    _Country(
        "GB",
        "GBP",
        "en-GB",
        Decimal("0.79"),
        (("Olivia", "Hughes", "olivia.hughes"), ("Harry", "Patel", "harry.patel")),
        "{n} Wellington Road",
        "Manchester",
        "M14 6FB",
        "",
        "+44 161 496 01{n:02d}",
    ),
    _Country(
        "FR",
        "EUR",
        "fr",
        Decimal("0.92"),
        (("Chloé", "Dubois", "chloe.dubois"), ("Hugo", "Lefèvre", "hugo.lefevre")),
        "{n} rue de la République",
        "Lyon",
        "69002",
        "",
        "+33 4 72 10 20 {n:02d}",
    ),
    _Country(
        "JP",
        "JPY",
        "ja",
        Decimal("150"),
        (("結衣", "佐藤", "yui.sato"), ("蓮", "鈴木", "ren.suzuki")),
        "渋谷2-{n}-1",
        "渋谷区",
        "150-0002",
        "JP-13",
        "+81 3-5550-01{n:02d}",
    ),
    _Country(
        "AU",
        "AUD",
        "en-AU",
        Decimal("1.52"),
        (("Charlotte", "Nguyen", "charlotte.nguyen"), ("Jack", "Wilson", "jack.wilson")),
        "{n} George Street",
        "Sydney",
        "2000",
        "NSW",
        "+61 2 5550 01{n:02d}",
    ),
    _Country(
        "NL",
        "EUR",
        "nl",
        Decimal("0.92"),
        (("Sanne", "de Vries", "sanne.devries"), ("Daan", "Jansen", "daan.jansen")),
        "Keizersgracht {n}",
        "Amsterdam",
        "1015 CJ",
        "",
        "+31 20 555 01{n:02d}",
    ),
    _Country(
        "CA",
        "CAD",
        "en-CA",
        Decimal("1.37"),
        (("Sophie", "Tremblay", "sophie.tremblay"), ("Liam", "Roy", "liam.roy")),
        "{n} Queen Street West",
        "Toronto",
        "M5H 2N2",
        "ON",
        "+1 416-555-01{n:02d}",
    ),
)
# The three euro countries sit at least three apart in this cycle, so any five consecutive
# orders come from five countries paying in at least four currencies.

CARRIERS = ("Cainiao", "YunExpress", "4PX")


def sizes_of(sku: str) -> list[str]:
    """The SKUs of every size of the sized catalogue product ``sku`` is a size of (itself
    among them), or none: the variants the sandbox store sells of it, all at one price."""
    base, _, size = sku.rpartition("-")
    if size not in _SIZES or not any(p.sku == base and p.sized for p in _CATALOGUE):
        return []
    return [f"{base}-{other}" for other in _SIZES]


def derived_id(*parts: object) -> int:
    """A stable 13-digit id, like the platform's numeric ids, from what identifies the thing."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return 1_000_000_000_000 + int.from_bytes(digest, "big") % 9_000_000_000_000


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as the platform writes it: a decimal string with the currency's decimals."""
    return f"{amount:.{exponent(currency)}f}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _local_price(product: _Product, country: _Country) -> Decimal:
    """The list price in the buyer's currency, rounded up to a shop-like .99 or ¥…90 price."""
    converted = product.usd * country.usd_rate
    if exponent(country.currency) == 0:
        return (converted / 100).to_integral_value(rounding=ROUND_CEILING) * 100 - 10
    return converted.to_integral_value(rounding=ROUND_CEILING) - Decimal("0.01")


def demo_order(domain: str, seed: int, index: int, today: date) -> dict[str, Any]:
    """Order ``index`` of demo ``seed`` for ``domain``, without its number (``name``).

    The store gives the number when it stores the order, as a real store numbers orders in the
    sequence they arrive.
    """
    rng = random.Random(f"{seed}:{index}")
    start = random.Random(f"{seed}").randrange(len(_COUNTRIES))
    country = _COUNTRIES[(start + index) % len(_COUNTRIES)]
    currency = country.currency
    first, last, mailbox = rng.choice(country.buyers)
    email = f"{mailbox}@example.com"
    order_id = derived_id(domain, "order", seed, index)

    # 23 is coprime to 60, so consecutive orders land far apart on the 60-day span and any
    # three of them straddle the 30-day mark.
    days_ago = 1 + (index * 23 + start * 7) % 60
    delivered_at = datetime.combine(
        today - timedelta(days=days_ago), time(rng.randrange(8, 20), rng.randrange(60)), UTC
    )
    shipped_at = delivered_at - timedelta(days=rng.randrange(6, 15), hours=rng.randrange(24))
    created_at = shipped_at - timedelta(days=rng.randrange(1, 3), hours=rng.randrange(24))

    products = [rng.choice(_PREMIUM) if index % 5 == 0 else rng.choice(_CATALOGUE)]
    for _ in range(rng.randrange(3)):
        product = rng.choice(_CATALOGUE)
        if product not in products:
            products.append(product)

    line_items = []
    subtotal = Decimal(0)
    for position, product in enumerate(products):
        quantity = 1 if product.usd > 100 else rng.choice((1, 1, 1, 2, 3))
        price = _local_price(product, country)
        subtotal += price * quantity
        size = rng.choice(_SIZES) if product.sized else ""
        line_items.append(
            {
                "id": derived_id(domain, "line_item", order_id, position),
                "admin_graphql_api_id": "",
                "sku": f"{product.sku}-{size}" if size else product.sku,
                "title": product.title,
                "variant_title": size,
                "quantity": quantity,
                "price": format_amount(price, currency),
                "grams": product.grams,
                "requires_shipping": True,
                "taxable": True,
                "fulfillment_status": "fulfilled",
                "properties": [],
                "hs_code": product.hs_code,
                "origin_country": "CN",
                "dimensions_mm": list(product.dimensions_mm),
            }
        )
        line_items[-1]["admin_graphql_api_id"] = f"gid://sandbox/LineItem/{line_items[-1]['id']}"

    house = rng.randrange(1, 99)
    address = {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "address1": country.street.format(n=house),
        "address2": "",
        "city": country.city,
        "zip": country.zip,
        "province_code": country.province_code,
        "country_code": country.code,
        "phone": country.phone.format(n=house),
    }
    total = format_amount(subtotal, currency)
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://sandbox/Order/{order_id}",
        "email": email,
        "currency": currency,
        "presentment_currency": currency,
        "created_at": iso(created_at),
        "processed_at": iso(created_at),
        "updated_at": iso(delivered_at),
        "financial_status": "paid",
        "fulfillment_status": "fulfilled",
        "subtotal_price": total,
        "total_discounts": format_amount(Decimal(0), currency),
        "total_tax": format_amount(Decimal(0), currency),
        "total_price": total,
        "tags": "demo",
        "customer_locale": country.locale,
        # shipped from the Shenzhen warehouse under a Chinese export declaration (18 digits)
        "shipped_from": "CN",
        "export_reference": f"5316{order_id % 10**14:014d}",
        "line_items": line_items,
        "shipping_lines": [
            {
                "id": derived_id(domain, "shipping_line", order_id),
                "title": "Free international shipping",
                "code": "FREE_INTL",
                "price": format_amount(Decimal(0), currency),
            }
        ],
        "customer": {
            "id": derived_id(domain, "customer", email),
            "email": email,
            "first_name": first,
            "last_name": last,
            "locale": country.locale,
        },
        "shipping_address": address,
        "fulfillments": [
            {
                "id": derived_id(domain, "fulfillment", order_id),
                "status": "success",
                "shipment_status": "delivered",
                "tracking_company": rng.choice(CARRIERS),
                "tracking_number": f"SB{order_id % 10**10:010d}CN",
                "created_at": iso(shipped_at),
                "updated_at": iso(delivered_at),
                "line_items": [
                    {"id": line["id"], "quantity": line["quantity"]} for line in line_items
                ],
            }
        ],
        "delivered_at": iso(delivered_at),
    }
