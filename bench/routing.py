"""Benchmark: routing decisions per second, and their p99 latency, for a return with
3 destinations x 4 rate-card services (no network), beside the carriers' quoting alone in
the same run: the ratio is what the net-cost model adds on top of pricing the parcel.

    .venv/bin/python bench/routing.py [--decisions 3000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from carriers.ratecard.adapter import RateCardCarrier
from connector.domain import Address, Condition, Money, Parcel, Reason, Shipment
from connector.ports import AdapterContext, Credentials
from connector.routing import Candidate, Destination, Item, route
from connector.services.fx import FxTable

SERVICES = ("ECONOMY", "STANDARD", "EXPRESS", "PRIORITY")


def write_card(folder: Path, currency: str, base: Decimal) -> None:
    folder.mkdir(parents=True)
    (folder / "zones.csv").write_text(
        'zone_id,country_codes,postal_prefixes\nDOM,US,\nWEST,US,9\nWORLD,"DE,FR,GB,JP",\n'
    )
    rates = [
        "carrier,service,zone_id,min_kg,max_kg,mode,price,step_kg,step_price,"
        "per_parcel_fee,currency,transit_min,transit_max"
    ]
    services = [
        "carrier,service,dim_divisor,vol_rule,round_step_kg,min_billable_kg,max_kg,"
        "fuel_pct,fuel_on_surcharges,surcharges_json"
    ]
    for n, service in enumerate(SERVICES):
        for zone in ("DOM", "WEST", "WORLD"):
            price = base + n * 3
            rates.append(f"line,{service},{zone},0,2,flat,{price},,,0,{currency},{2 + n},{5 + n}")
            rates.append(
                f"line,{service},{zone},2,30,first_additional,{price},0.5,1.10,0,{currency},"
                f"{2 + n},{5 + n}"
            )
        services.append(f"line,{service},5000,max,0.5,0.5,30,12.5,false,")
    (folder / "rates.csv").write_text("\n".join(rates) + "\n")
    (folder / "services.csv").write_text("\n".join(services) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="helloword-routing-"))
    context = AdapterContext(data_dir=root)
    sites = [
        ("origin", "CN", "CNY", "38"),
        ("us-3pl", "US", "USD", "6"),
        ("eu-3pl", "NL", "EUR", "9"),
    ]
    lanes = []
    for code, country, currency, base in sites:
        write_card(root / code, currency, Decimal(base))
        carrier = RateCardCarrier(Credentials(code, settings={"card": str(root / code)}), context)
        destination = Destination(
            id=code,
            name=code,
            kind="warehouse",
            address=Address(code, "1 Dock Rd", "City", "00000", country),
            handling=Money.of("2.00", "USD"),
            resale_factor=Decimal("0.8"),
            duty_rate=Decimal("0.1"),
        )
        lanes.append((destination, carrier))
    buyer = Address("Jane", "1 Main St", "San Francisco", "94117", "US")
    parcel = Parcel(Decimal("0.8"), Decimal(30), Decimal(20), Decimal(5))
    items = [Item(Money.of("59.00", "USD"), Reason.SIZE_TOO_SMALL, Condition.UNUSED)]
    fx = FxTable({("USD", "CNY"): Decimal("7.24"), ("USD", "EUR"): Decimal("0.921")})

    def quotes() -> list[Candidate]:
        candidates = []
        for destination, carrier in lanes:
            shipment = Shipment("R1", buyer, destination.address, parcel, Money.of("59.00", "USD"))
            candidates.extend(Candidate(destination, q) for q in carrier.quote(shipment))
        return candidates

    assert len(quotes()) == 12, "3 destinations x 4 services"

    def timed(work: object) -> list[float]:
        latencies = []
        for _ in range(args.decisions):
            started = time.perf_counter()
            work()  # type: ignore[operator]
            latencies.append(time.perf_counter() - started)
        return latencies

    def decide() -> None:
        route(items, quotes(), "USD", fx.convert, buyer_country="US")

    timed(decide)  # warm up: cards parsed and cached
    baseline = timed(quotes)
    full = timed(decide)
    rate_full = args.decisions / sum(full)
    rate_base = args.decisions / sum(baseline)
    p99 = statistics.quantiles(full, n=100)[98] * 1000
    print(f"routing decisions  {rate_full:10,.0f}/s   p99 {p99:.3f} ms   (12 quotes each)")
    print(f"quoting alone      {rate_base:10,.0f}/s")
    print(f"ratio decisions / quoting alone: {rate_full / rate_base:.2f}")


if __name__ == "__main__":
    main()
