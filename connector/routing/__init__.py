"""The cheapest sound way back: every option for a return, its expected net cost, the choice.

``route(...)`` is pure: the services layer gathers carrier quotes for each eligible destination
and the merchant's ``RoutingSettings`` and passes them in; the answer is a ``Route`` listing
every option with each cost component so a person can check the arithmetic.
"""

from .engine import (
    Candidate,
    Destination,
    Item,
    NoRoute,
    OptionKind,
    Route,
    RouteOption,
    route,
)
from .settings import DEFAULT_RESALE_TABLE, ResaleTable, RoutingSettings

__all__ = [
    "DEFAULT_RESALE_TABLE",
    "Candidate",
    "Destination",
    "Item",
    "NoRoute",
    "OptionKind",
    "ResaleTable",
    "Route",
    "RouteOption",
    "RoutingSettings",
    "route",
]
