"""The buyer portal at ``/r/<merchant slug>``: a buyer finds an order, asks for a return of
some of its items with photos, sees what the policy decides and how the goods would go back
before sending, and follows the return on a page reached by a signed link sent by email. A
buyer in the EU withdraws from the contract in one step.

Every page is server-rendered and its core path works without JavaScript; forms carry a CSRF
token, and order lookups are rate-limited per address and per order number.
"""

from __future__ import annotations

from ..ui import page_blueprint

portal = page_blueprint("portal", "/r")

from . import views  # noqa: E402, F401  (the pages add themselves to ``portal``)

__all__ = ["portal"]
