"""What the API tests share: the tenants they call as, and ways to put a return in the state
that the jobs (which no worker runs here) would have brought it to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from connector.db import models
from connector.runtime import Runtime


@dataclass(frozen=True)
class Tenant:
    merchant_id: int
    key: str
    store_id: int
    order_id: int
    line_ids: tuple[int, ...]  # our ids of the order's lines: 2 shirts, then 1 mug

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Caller:
    """The test client, calling with one tenant's key."""

    def __init__(self, client: FlaskClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.tenant.headers, **kwargs)

    def post(self, path: str, json: Any = None) -> Any:
        return self.client.post(path, json=json, headers=self.tenant.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.tenant.headers)

    def create_return(self, **changes: Any) -> Any:
        """Ask for one shirt back, unless ``changes`` say otherwise."""
        shirt = {"order_line_id": self.tenant.line_ids[0], "quantity": 1, "reason": "UNWANTED"}
        body = {"order_id": self.tenant.order_id, "lines": [shirt], **changes}
        return self.post("/api/v1/returns", json=body)

    def new_return_id(self, **changes: Any) -> int:
        response = self.create_return(**changes)
        assert response.status_code == 201, response.json
        return int(response.json["id"])


def set_return(runtime: Runtime, return_id: int, **columns: Any) -> None:
    with runtime.db.transaction() as session:
        session.execute(
            update(models.Return).where(models.Return.id == return_id).values(**columns)
        )


def approve_lines(runtime: Runtime, return_id: int) -> None:
    with runtime.db.transaction() as session:
        session.execute(
            update(models.ReturnLine)
            .where(models.ReturnLine.return_id == return_id)
            .values(outcome="approve", decision_reason="WITHIN_WINDOW")
        )


def add_label(runtime: Runtime, return_id: int, files: dict[str, bytes]) -> None:
    """A shipment for the return with its label files, as the fulfilment job stores them."""
    with runtime.db.transaction() as session:
        shipment = models.Shipment(
            return_id=return_id,
            kind="label",
            carrier="ratecard",
            service="economy",
            tracking_number=f"RC{return_id:08d}",
            price_minor=790,
            currency="EUR",
        )
        session.add(shipment)
        session.flush()
        for label_format, data in files.items():
            path = runtime.files.write(f"labels/{return_id}/label.{label_format}", data)
            session.add(models.LabelFile(shipment_id=shipment.id, format=label_format, path=path))


def count_rows(runtime: Runtime, model: type[models.Base]) -> int:
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
