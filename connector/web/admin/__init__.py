"""The seller back office under ``/admin``: sign-in, and the pages built on it.

A user belongs to one merchant and sees only that merchant's returns. A session lasts at
most ``SESSION_HOURS`` from sign-in and ends after ``IDLE_MINUTES`` without a request; the
cookie is HttpOnly and SameSite=Lax (and Secure behind HTTPS). Pages use ``login_required``
and ``merchant_id()``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...db import models
from ...runtime import current_runtime
from ...services import users
from ..ui import limiter, page_blueprint

admin = page_blueprint("admin", "/admin")

SESSION_HOURS = 8
IDLE_MINUTES = 60

View = TypeVar("View", bound=Callable[..., Any])


def _now() -> datetime:
    return datetime.now(UTC)


def login_required(view: View) -> View:
    """Send a visitor without a live session to the sign-in page, and back afterwards."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user_id = session.get("user_id")
        signed_in = session.get("signed_in_at", 0)
        seen = session.get("seen_at", 0)
        now = _now().timestamp()
        if not user_id or now - signed_in > SESSION_HOURS * 3600 or now - seen > IDLE_MINUTES * 60:
            session.clear()
            return redirect(url_for("admin.sign_in", next=request.full_path))
        with current_runtime().db.session() as db:
            user = db.get(models.User, user_id)
            if user is None:
                session.clear()
                return redirect(url_for("admin.sign_in"))
            g.user_id, g.merchant_id, g.user_email = user.id, user.merchant_id, user.email
            merchant = db.get(models.Merchant, user.merchant_id)
            g.merchant_name = merchant.name if merchant else ""
        session["seen_at"] = now
        return view(*args, **kwargs)

    return cast(View, wrapped)


def merchant_id() -> int:
    """The signed-in user's merchant: every query of a back-office page is scoped by it."""
    return int(g.merchant_id)


def actor() -> str:
    """Who acted, as the ledger records it."""
    return f"admin:{g.user_email}"


@admin.get("/sign-in")
def sign_in() -> str:
    return render_template("admin/sign_in.html", next=request.args.get("next", ""))


@admin.post("/sign-in")
@limiter.limit("10 per minute; 50 per hour")
def sign_in_post() -> Response | tuple[str, int]:
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    with current_runtime().db.transaction() as db:
        user = users.authenticate(db, email, password)
        user_id = user.id if user else None
    if user_id is None:
        flash(_("That email and password do not match an account."), "error")
        return render_template("admin/sign_in.html", next=request.form.get("next", "")), 401
    session.clear()
    session.permanent = True
    session["user_id"] = user_id
    session["signed_in_at"] = session["seen_at"] = _now().timestamp()
    target = request.form.get("next", "")
    if not target.startswith("/admin") or target.startswith("//"):
        target = url_for("admin.home")
    return redirect(target)


@admin.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    flash(_("You are signed out."), "success")
    return redirect(url_for("admin.sign_in"))


@admin.get("/")
@login_required
def home() -> Response:
    return redirect(url_for("admin.returns_list"))


# the back office's sections: (endpoint, label); a section shows once its page exists
NAV = (
    ("admin.returns_list", "Returns"),
    ("admin.review_queue", "Review"),
    ("admin.receiving", "Receiving"),
    ("admin.policy", "Policy"),
    ("admin.dashboard", "Dashboard"),
)


@admin.app_context_processor
def _navigation() -> dict[str, Any]:
    from flask import current_app

    return {
        "admin_nav": [
            (endpoint, _(label))
            for endpoint, label in NAV
            if endpoint in current_app.view_functions
        ]
    }


def session_lifetime() -> timedelta:
    return timedelta(hours=SESSION_HOURS)


# the pages: each module adds its views to ``admin``
from . import dashboard, policy, receiving, returns, review  # noqa: E402, F401
