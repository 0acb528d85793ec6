"""The EasyPost carrier: return labels bought through EasyPost, tracked by API and webhook."""

from .adapter import EasyPostCarrier
from .mapper import CustomsItem

__all__ = ["CustomsItem", "EasyPostCarrier"]
