"""Amazon's marketplaces and selling regions: the reference data every other module looks up.

A seller account lives in one selling region (``na``, ``eu`` or ``fe``) and sells in one or
more of its marketplaces. The region decides the SP-API endpoint; the marketplace decides the
currency a returns report's amounts are in, the country a stub order's buyer is taken to be in
until the Orders API says otherwise, and the Seller Central host a seller signs in to when
authorising the app (Amazon's "Seller Central URLs" table: most European marketplaces share
``sellercentral-europe.amazon.com``, the newer ones have their own).
"""

from __future__ import annotations

from dataclasses import dataclass

REGIONS = ("na", "eu", "fe")
SANDBOX_PREFIX = "sandbox."


@dataclass(frozen=True, slots=True)
class Marketplace:
    marketplace_id: str
    country: str  # ISO 3166-1 alpha-2, as Amazon's marketplace table gives it
    currency: str  # ISO 4217
    region: str  # na | eu | fe
    seller_central: str  # the host a seller signs in to, with scheme


def _m(marketplace_id: str, country: str, currency: str, region: str, host: str) -> Marketplace:
    return Marketplace(marketplace_id, country, currency, region, f"https://{host}")


_EUROPE = "sellercentral-europe.amazon.com"

MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in (
        _m("A2EUQ1WTGCTBG2", "CA", "CAD", "na", "sellercentral.amazon.ca"),
        _m("ATVPDKIKX0DER", "US", "USD", "na", "sellercentral.amazon.com"),
        _m("A1AM78C64UM0Y8", "MX", "MXN", "na", "sellercentral.amazon.com.mx"),
        _m("A2Q3Y263D00KWC", "BR", "BRL", "na", "sellercentral.amazon.com.br"),
        _m("A28R8C7NBKEWEA", "IE", "EUR", "eu", "sellercentral.amazon.ie"),
        _m("A1RKKUPIHCS9HS", "ES", "EUR", "eu", _EUROPE),
        _m("A1F83G8C2ARO7P", "GB", "GBP", "eu", _EUROPE),
        _m("A13V1IB3VIYZZH", "FR", "EUR", "eu", _EUROPE),
        _m("AMEN7PMS3EDWL", "BE", "EUR", "eu", "sellercentral.amazon.com.be"),
        _m("A1805IZSGTT6HS", "NL", "EUR", "eu", "sellercentral.amazon.nl"),
        _m("A1PA6795UKMFR9", "DE", "EUR", "eu", _EUROPE),
        _m("APJ6JRA9NG5V4", "IT", "EUR", "eu", _EUROPE),
        _m("A2NODRKZP88ZB9", "SE", "SEK", "eu", "sellercentral.amazon.se"),
        _m("AE08WJ6YKNBMC", "ZA", "ZAR", "eu", "sellercentral.amazon.co.za"),
        _m("A1C3SOZRARQ6R3", "PL", "PLN", "eu", "sellercentral.amazon.pl"),
        _m("ARBP9OOSHTCHU", "EG", "EGP", "eu", "sellercentral.amazon.eg"),
        _m("A33AVAJ2PDY3EV", "TR", "TRY", "eu", "sellercentral.amazon.com.tr"),
        _m("A17E79C6D8DWNP", "SA", "SAR", "eu", "sellercentral.amazon.sa"),
        _m("A2VIGQ35RCS4UG", "AE", "AED", "eu", "sellercentral.amazon.ae"),
        _m("A21TJRUUN4KGV", "IN", "INR", "eu", "sellercentral.amazon.in"),
        _m("A19VAU5U5O7RUS", "SG", "SGD", "fe", "sellercentral.amazon.sg"),
        _m("A39IBJ37TRP1C6", "AU", "AUD", "fe", "sellercentral.amazon.com.au"),
        _m("A1VC38T7YXB528", "JP", "JPY", "fe", "sellercentral.amazon.co.jp"),
    )
}

# The Seller Central a seller of the region signs in to when no marketplace is known yet.
REGION_SELLER_CENTRAL = {
    "na": "https://sellercentral.amazon.com",
    "eu": f"https://{_EUROPE}",
    "fe": "https://sellercentral.amazon.co.jp",
}

# One marketplace of each region, for the library's clients, which want one to start from.
REGION_HOME = {"na": "ATVPDKIKX0DER", "eu": "A1PA6795UKMFR9", "fe": "A1VC38T7YXB528"}


def region_of(value: object) -> str:
    """The region code, lower-cased; ``ValueError`` for anything but na, eu or fe."""
    region = str(value or "").strip().lower()
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, not {value!r}")
    return region


def marketplace(marketplace_id: str) -> Marketplace:
    """The marketplace with this id; ``ValueError`` naming it when Amazon has no such one."""
    try:
        return MARKETPLACES[marketplace_id]
    except KeyError:
        raise ValueError(f"{marketplace_id!r} is not an Amazon marketplace id") from None


def endpoint(region: str, *, sandbox: bool = False) -> str:
    """The SP-API host of a region, or of its static sandbox."""
    prefix = SANDBOX_PREFIX if sandbox else ""
    return f"https://{prefix}sellingpartnerapi-{region_of(region)}.amazon.com"
