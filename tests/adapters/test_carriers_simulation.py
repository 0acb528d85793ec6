"""Simulated scans stand in for carriers without a tracking API: canonical, ordered, repeatable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carriers.simulation import simulate_scans
from connector.domain import TrackingStatus

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("transit_days", [1, 2, 5, 25])
def test_scans_run_from_label_to_delivery_within_the_transit_time(transit_days: int) -> None:
    events = simulate_scans("RCHMVAXZ2PLLMC", START, transit_days)
    statuses = [event.status for event in events]
    assert statuses[:2] == [TrackingStatus.LABEL_CREATED, TrackingStatus.DROPPED_OFF]
    assert statuses[-2:] == [TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED]
    assert TrackingStatus.IN_TRANSIT in statuses
    times = [event.occurred_at for event in events]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[0] == START
    assert START < times[-1] <= START + timedelta(days=transit_days)
    assert events[-1].status.is_terminal and events[1].status.is_first_scan
    assert all(event.tracking_number == "RCHMVAXZ2PLLMC" for event in events)
    assert all(event.carrier_status and event.description for event in events)
    assert len({event.dedup_key for event in events}) == len(events)


def test_scans_are_the_same_for_the_same_parcel_and_vary_between_parcels() -> None:
    first = simulate_scans("RCAAAAAAAAAAAA", START, 6)
    assert simulate_scans("RCAAAAAAAAAAAA", START, 6) == first
    other = simulate_scans("RCBBBBBBBBBBBB", START, 6)
    assert [e.occurred_at for e in other] != [e.occurred_at for e in first]


def test_a_dropoff_is_handed_in_at_a_point_and_scans_name_the_places() -> None:
    events = simulate_scans(
        "DO-7K3M-Q9PX", START, 4, "dropoff", origin="Berlin, DE", destination="Venlo, NL"
    )
    assert events[0].carrier_status == "code_issued"
    assert events[1].carrier_status == "code_redeemed" and events[1].location == "Berlin, DE"
    assert events[-1].location == "Venlo, NL"


@pytest.mark.parametrize(("transit_days", "kind"), [(0, "label"), (3, "courier")])
def test_impossible_journeys_are_refused(transit_days: int, kind: str) -> None:
    with pytest.raises(ValueError):
        simulate_scans("RC1", START, transit_days, kind)
