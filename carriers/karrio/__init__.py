"""The karrio carrier: return labels from direct carrier accounts (DHL Express, UPS, FedEx …)."""

from .adapter import KarrioCarrier

__all__ = ["KarrioCarrier"]
