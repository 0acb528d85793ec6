"""The back office's sign-in page in a real browser: a wrong password is told plainly, and the
form works from the keyboard."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from playwright.sync_api import Page, expect

from connector.services import merchants, users


def test_a_wrong_password_is_told_plainly(
    app: Flask, live_url: str, new_page: Callable[..., Page], shoot: Callable[[Page, str], object]
) -> None:
    with app.extensions["helloword"].db.transaction() as session:
        merchant = merchants.create_merchant(session, "Browser Co")
        users.create_user(session, merchant, "ops@browser.example", "a long enough password")
    page = new_page()

    page.goto(f"{live_url}/admin/sign-in")
    shoot(page, "sign-in")
    page.get_by_label("Email").fill("ops@browser.example")
    page.get_by_label("Password").fill("a wrong password entirely")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("do not match an account")
    shoot(page, "sign-in-refused")
