"""The policy editor: the active document as YAML, checked with every error shown at its line,
simulated over past returns against the active version, and saved as the next version.

One form does all three, without JavaScript, through the button pressed. Save stores a
document only after a simulation of that exact text, against the version active now, was
shown: the simulation's page carries a digest of (merchant, active version, text), and Save
refuses a text or an active version that no longer matches it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import yaml
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ...db import models
from ...rules import DEFAULT_DOCUMENT, PolicyError
from ...rules.policy import MAX_TEXT, parse_policy_text
from ...runtime import current_runtime
from ...services import policies
from . import actor, admin, login_required, merchant_id

DEFAULT_DAYS = 90
MAX_DAYS = 3660
EXAMPLES = 10

# the order a person reads a document in (a stored document comes back with sorted keys)
_TOP_ORDER = ("version", "currency", "defaults", "rules")
_RULE_ORDER = ("id", "description", "when", "then", "statutory_exception")
_SETTER_ORDER = (
    "window_days",
    "refund_trigger",
    "resolutions",
    "require_photos",
    "restocking_fee",
    "bonus_credit_percent",
    "returnless",
)
_THEN_ORDER = ("decision", "reason", "queue", *_SETTER_ORDER)
_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_AT_LINE = re.compile(r"at line (\d+)")


class _SavedMeanwhile(Exception):
    """Another version was saved between the simulation's check and this save."""


@dataclass(frozen=True)
class LocatedError:
    path: str
    message: str
    line: int | None  # 1-based, None when the error is about the whole document


@dataclass(frozen=True)
class ListingLine:
    number: int
    text: str
    errors: tuple[LocatedError, ...]


@admin.get("/policy")
@login_required
def policy() -> str:
    opened = request.args.get("version", type=int)
    with current_runtime().db.session() as session:
        row = None
        if opened is not None:
            row = session.scalar(
                select(models.Policy).where(
                    models.Policy.merchant_id == merchant_id(), models.Policy.version == opened
                )
            )
        if row is None:
            opened = None
            row = policies.latest(session, merchant_id())
        document = row.document if row else DEFAULT_DOCUMENT
    return _page(as_yaml(document), DEFAULT_DAYS, opened=opened)


@admin.post("/policy")
@login_required
def policy_post() -> Response | str | tuple[str, int]:
    text = request.form.get("document", "").replace("\r\n", "\n")
    action = request.form.get("action", "check")
    days, days_error = _days(request.form.get("days", ""))
    errors = check(text)
    if errors:
        return _page(text, days, errors=errors, days_error=days_error), 422
    document = parse_policy_text(text).document
    with current_runtime().db.session() as session:
        active = policies.latest(session, merchant_id())
        active_version = active.version if active else None
    digest = simulation_digest(merchant_id(), active_version, text)
    given = request.form.get("simulated", "")
    carried = given if given == digest else ""
    if action == "simulate":
        if days_error:
            return _page(text, days, days_error=days_error, simulated=carried), 422
        with current_runtime().db.session() as session:
            result = policies.simulate(session, merchant_id(), document, days, examples=EXAMPLES)
        return _page(text, days, simulation=result, simulated=digest)
    if action == "save":
        changed = _(
            "The document or the active version changed since the simulation shown: "
            "simulate again, then save."
        )
        if not carried:
            message = changed
            if not given:
                message = _(
                    "Simulate this exact document before saving it: Save stores only a "
                    "document whose simulation against the active version was shown."
                )
            return _page(text, days, days_error=days_error, save_refused=message), 409
        try:
            with current_runtime().db.transaction() as session:
                version = policies.save(session, merchant_id(), document, actor()).version
                if version != (active_version or 0) + 1:  # someone saved meanwhile
                    raise _SavedMeanwhile
        except _SavedMeanwhile:
            return _page(text, days, days_error=days_error, save_refused=changed), 409
        flash(_("Saved as version %(version)s, now the active policy.", version=version), "success")
        return redirect(url_for("admin.policy"))
    return _page(text, days, days_error=days_error, checked=True, simulated=carried)


def check(text: str) -> list[LocatedError]:
    """Every error in the document, each at its line where the path leads to one."""
    try:
        parse_policy_text(text)
    except PolicyError as error:
        return locate(text, error.errors)
    return []


def locate(text: str, errors: list[tuple[str, str]]) -> list[LocatedError]:
    """Find the line each error's path names: the key at the end of the path, or the deepest
    part of the path the document has (a missing key is reported at its parent)."""
    root: Node | None = None
    if len(text) <= MAX_TEXT:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except (yaml.YAMLError, RecursionError):
            root = None
    located = []
    for path, message in errors:
        line = _line_of(root, path) if root is not None else None
        if line is None and path == "$":
            mentioned = _AT_LINE.search(message)
            line = int(mentioned.group(1)) if mentioned else None
        located.append(LocatedError(path, message, line))
    return located


def _line_of(root: Node, path: str) -> int | None:
    if path in ("", "$"):
        return None
    node, line = root, None
    for index, key in _STEP.findall(path):
        if index:
            if not isinstance(node, SequenceNode) or int(index) >= len(node.value):
                break
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            if not isinstance(node, MappingNode):
                break
            pair = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, ScalarNode) and str(k.value) == key
                ),
                None,
            )
            if pair is None:
                break
            node = pair[1]
            line = pair[0].start_mark.line + 1
    return line


def listing(text: str, errors: list[LocatedError]) -> list[ListingLine]:
    """The document line by line, each with the errors found at it."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    at: dict[int, list[LocatedError]] = {}
    for error in errors:
        if error.line is not None:
            at.setdefault(min(error.line, max(len(lines), 1)), []).append(error)
    return [
        ListingLine(number, line, tuple(at.get(number, ())))
        for number, line in enumerate(lines or [""], start=1)
    ]


def simulation_digest(merchant: int, active_version: int | None, text: str) -> str:
    """What a simulation was of: the merchant, the version it was compared with, the text."""
    seed = f"{merchant}\n{active_version if active_version is not None else '-'}\n{text}"
    return hashlib.sha256(seed.encode()).hexdigest()


def as_yaml(document: dict[str, Any]) -> str:
    """A stored document as YAML, its keys in reading order."""
    return yaml.safe_dump(
        _ordered(document), sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def _ordered(document: dict[str, Any]) -> dict[str, Any]:
    result = _in_order(document, _TOP_ORDER)
    if isinstance(result.get("defaults"), dict):
        result["defaults"] = _in_order(result["defaults"], _SETTER_ORDER)
    if isinstance(result.get("rules"), list):
        result["rules"] = [_rule_in_order(rule) for rule in result["rules"]]
    return result


def _rule_in_order(rule: Any) -> Any:
    if not isinstance(rule, dict):
        return rule
    result = _in_order(rule, _RULE_ORDER)
    if isinstance(result.get("then"), dict):
        result["then"] = _in_order(result["then"], _THEN_ORDER)
    return result


def _in_order(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    first = {key: mapping[key] for key in order if key in mapping}
    return first | {key: value for key, value in mapping.items() if key not in first}


def _days(given: str) -> tuple[int, str]:
    if not given.strip():
        return DEFAULT_DAYS, ""
    try:
        days = int(given)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        return DEFAULT_DAYS, _("Enter a whole number of days from 1 to %(most)s.", most=MAX_DAYS)
    return days, ""


def _page(
    text: str,
    days: int,
    *,
    errors: list[LocatedError] | None = None,
    days_error: str = "",
    checked: bool = False,
    simulation: dict[str, Any] | None = None,
    simulated: str = "",
    save_refused: str = "",
    opened: int | None = None,
) -> str:
    with current_runtime().db.session() as session:
        versions = [
            (row.version, row.created_at, row.saved_by)
            for row in session.scalars(
                select(models.Policy)
                .where(models.Policy.merchant_id == merchant_id())
                .order_by(models.Policy.version.desc())
            )
        ]
    errors = errors or []
    return render_template(
        "admin/policy.html",
        text=text,
        rows=max(18, min(60, text.count("\n") + 3)),
        days=days,
        days_error=days_error,
        errors=errors,
        unplaced=[e for e in errors if e.line is None],
        listing=listing(text, errors) if errors else [],
        checked=checked,
        simulation=simulation,
        simulated=simulated,
        save_refused=save_refused,
        versions=versions,
        active=versions[0] if versions else None,
        opened=opened,
        max_days=MAX_DAYS,
    )
