"""The Shopify platform: one store's orders and returns in, decisions, labels and refunds out.

``ShopifyPlatform`` is the adapter the registry builds for the ``shopify`` slug; everything
else in this package is private to it.
"""

from .adapter import ShopifyPlatform

__all__ = ["ShopifyPlatform"]
