"""A sandbox merchant with a dozen demo orders imported: the ground the service tests stand on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from connector.demo import bootstrap, import_orders


@pytest.fixture
def ctx(app: Flask) -> Iterator[dict[str, Any]]:
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=12)
        import_orders(runtime, setup)
        yield {"app": app, "runtime": runtime, "setup": setup}
