"""The cheapest sound way back: every option for a return, its expected net cost, the choice.

``route(...)`` is pure: the services layer gathers carrier quotes for each eligible destination
and passes them in; the answer is a ``Route`` listing every option with each cost component so a
person can check the arithmetic.
"""

from .engine import (
    DEFAULT_RESALE_TABLE,
    Candidate,
    Destination,
    Item,
    OptionKind,
    ResaleTable,
    Route,
    RouteOption,
    route,
)

__all__ = [
    "DEFAULT_RESALE_TABLE",
    "Candidate",
    "Destination",
    "Item",
    "OptionKind",
    "ResaleTable",
    "Route",
    "RouteOption",
    "route",
]
