"""A merchant's portal address is a slug made from its name, unique among merchants."""

from __future__ import annotations

import pytest
from flask import Flask

from connector.errors import NotFound
from connector.services import merchants


def test_slugs_are_readable_and_never_shared(app: Flask) -> None:
    with app.extensions["helloword"].db.transaction() as session:
        first = merchants.create_merchant(session, "Café Société Outfitters")
        second = merchants.create_merchant(session, "cafe societe outfitters!")
        assert (first.slug, second.slug) == ("cafe-societe-outfitters", "cafe-societe-outfitters-2")
        assert merchants.merchant_by_slug(session, second.slug).id == second.id
        with pytest.raises(NotFound):
            merchants.merchant_by_slug(session, "nobody")


def test_a_name_without_latin_letters_still_gets_a_slug(app: Flask) -> None:
    with app.extensions["helloword"].db.transaction() as session:
        assert merchants.create_merchant(session, "深圳好物").slug == "store"
