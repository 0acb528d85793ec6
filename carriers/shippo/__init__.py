"""The Shippo carrier: return labels, refunds and tracking over Shippo's REST API."""

from .adapter import WEBHOOK_TOKEN_HEADER, ShippoCarrier, purchase_metadata
from .client import ShippoClient

__all__ = ["WEBHOOK_TOKEN_HEADER", "ShippoCarrier", "ShippoClient", "purchase_metadata"]
