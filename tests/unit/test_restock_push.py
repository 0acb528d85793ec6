"""Resellable goods go back on sale once: through the platform's inventory, unless its
disposal of the return already restocked them."""

from __future__ import annotations

from connector.ports import PushResult
from connector.services.publish import _restock


class Inventory:
    restocks_on_dispose = False

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def restock(self, idempotency_key: str, sku: str, quantity: int) -> PushResult:
        repeated = any(key == idempotency_key for key, _, _ in self.calls)
        self.calls.append((idempotency_key, sku, quantity))
        return PushResult(already_done=repeated)


class RestocksOnDispose(Inventory):
    restocks_on_dispose = True


def test_each_sku_is_restocked_under_its_own_key() -> None:
    inventory = Inventory()

    result = _restock(inventory, "restock:7", [("TEE-M", 2), ("CAP", 1)])

    assert inventory.calls == [("restock:7:TEE-M", "TEE-M", 2), ("restock:7:CAP", "CAP", 1)]
    assert not result.already_done
    assert _restock(inventory, "restock:7", [("TEE-M", 2), ("CAP", 1)]).already_done


def test_a_platform_that_restocked_with_the_disposal_is_not_asked_again() -> None:
    inventory = RestocksOnDispose()

    result = _restock(inventory, "restock:7", [("TEE-M", 2)])

    assert inventory.calls == []
    assert "disposal" in result.details["skipped"]


def test_a_platform_without_inventory_is_skipped() -> None:
    assert "skipped" in _restock(object(), "restock:7", [("TEE-M", 2)]).details
