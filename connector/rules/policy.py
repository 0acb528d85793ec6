"""A merchant's policy document: validated as a whole, then compiled once into a ``Policy``.

The document is versioned YAML or JSON (``docs/policies.md`` describes every field)::

    version: 1
    currency: USD
    defaults: {window_days: 30, refund_trigger: received, resolutions: [refund]}
    rules:
      - id: high-value
        when: {line_value: {gt: 300}}
        then: {decision: review, queue: high-value}

Validation reads the whole document and reports every error at once, each located by its path
(``rules[3].when.line_value.gt: expected a number``); unknown keys are errors, never ignored.
A valid document compiles into a ``Policy``: its conditions are predicates, its amounts
``Decimal`` in the policy currency, its settings frozen, so the engine does no parsing or
lookups per request. ``compile_policy`` keeps the compiled form of recent documents, keyed by
their canonical JSON, so callers get the compilation once without holding it themselves.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import yaml

from ..domain.money import CURRENCIES
from .chain import Chain, build_chain
from .conditions import Constants, Predicate, compile_when, decimal_of, predicate

FORMAT_VERSION = 1


class PolicyError(ValueError):
    """A policy document that cannot be applied, with every error found, each by its path.

    ``errors`` lists ``(path, message)`` pairs in document order; ``field`` and ``message``
    are the first of them.
    """

    def __init__(self, field: str | Sequence[tuple[str, str]], message: str = "") -> None:
        errors = [(field, message)] if isinstance(field, str) else list(field)
        if not errors:
            raise ValueError("a PolicyError needs at least one error")
        super().__init__("\n".join(f"{path}: {text}" for path, text in errors))
        self.errors: list[tuple[str, str]] = errors
        self.field, self.message = errors[0]


class Outcome(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"
    PARTIAL = "partial"  # a return whose lines did not all get the same outcome


class RefundTrigger(StrEnum):
    FIRST_SCAN = "first_scan"
    RECEIVED = "received"
    INSPECTED = "inspected"


class Resolution(StrEnum):
    REFUND = "refund"
    STORE_CREDIT = "store_credit"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class RestockingFee:
    """Either a percentage of the line's value or a fixed amount in the policy currency."""

    percent: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """The values a rule's ``then`` sets; ``None`` leaves the value as it was."""

    window_days: int | None = None
    refund_trigger: RefundTrigger | None = None
    resolutions: tuple[Resolution, ...] | None = None
    require_photos: int | None = None
    restocking_fee: RestockingFee | None = None
    bonus_credit_percent: Decimal | None = None
    returnless: bool | None = None


@dataclass(frozen=True, slots=True)
class Defaults:
    """The values every line starts from, before any rule sets its own."""

    window_days: int = 30  # counted from the line's delivery date
    refund_trigger: RefundTrigger = RefundTrigger.RECEIVED
    resolutions: tuple[Resolution, ...] = (Resolution.REFUND,)
    require_photos: int = 0
    restocking_fee: RestockingFee | None = None
    bonus_credit_percent: Decimal = Decimal(0)
    returnless: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    test: Predicate
    settings: Settings | None  # None when the rule sets nothing
    decision: Outcome | None  # None when the rule only sets values
    reason: str = ""
    queue: str = ""
    statutory_exception: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """A compiled policy. Two policies are equal when their documents are."""

    currency: str
    defaults: Defaults
    chain: Chain = field(repr=False)  # the rules as one generated function (chain.py)
    rules: tuple[Rule, ...] = ()
    version: int = FORMAT_VERSION  # the document format
    revision: int | None = None  # the stored version the caller compiled, if any
    canonical: str = ""  # the document as canonical JSON
    uses_amounts: bool = False  # a condition reads line_value or order_value
    uses_order_value: bool = False
    uses_days_since_order: bool = False

    @property
    def window_days(self) -> int:
        return self.defaults.window_days

    @property
    def refund_trigger(self) -> RefundTrigger:
        return self.defaults.refund_trigger

    @property
    def document(self) -> dict[str, Any]:
        """The document this policy was compiled from, as JSON data (Decimal amounts as text)."""
        result: dict[str, Any] = json.loads(self.canonical) if self.canonical else {}
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (self.canonical, self.revision) == (other.canonical, other.revision)

    def __hash__(self) -> int:
        return hash((self.canonical, self.revision))


_DEFAULTS = Defaults()
_TOP = ("version", "currency", "defaults", "rules")
_SETTERS = (
    "window_days",
    "refund_trigger",
    "resolutions",
    "require_photos",
    "restocking_fee",
    "bonus_credit_percent",
    "returnless",
)
_THEN = (*_SETTERS, "decision", "reason", "queue")
_RULE = ("id", "description", "when", "then", "statutory_exception")
_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


# Reading and caching --------------------------------------------------------------------


MAX_TEXT = 256 * 1024  # a policy of a few hundred rules is a few tens of KiB


class _PlainLoader(yaml.SafeLoader):
    """YAML without aliases: ``*a`` repeated in nested lists expands exponentially (a
    "billion laughs" document), and a policy has no use for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a policy", event.start_mark
            )
        return super().compose_node(parent, index)


def parse_policy_text(text: str, revision: int | None = None) -> Policy:
    """A policy from YAML or JSON text (JSON is read as the YAML it also is)."""
    if len(text) > MAX_TEXT:
        raise PolicyError("$", f"a policy is at most {MAX_TEXT // 1024} KiB of text")
    try:
        document = yaml.load(text, Loader=_PlainLoader)
    except (RecursionError, ValueError):
        raise PolicyError(
            "$", "the document nests too deeply or holds too large a number"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyError("$", f"not valid YAML or JSON{where}: {problem}") from None
    return compile_policy(document, revision)


def canonical_json(document: Any) -> str | None:
    """The document as sorted, compact JSON; None when it holds values JSON cannot."""
    try:
        return json.dumps(
            document,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_decimal_as_text,
        )
    except (TypeError, ValueError):
        return None


def _decimal_as_text(value: Any) -> str:
    """Decimal amounts keep every digit as JSON text (a policy reads numeric text as a number)."""
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class _Cache:
    """The most recently compiled policies, keyed by canonical JSON and revision."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, int | None], Policy] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple[str, int | None]) -> Policy | None:
        with self._lock:
            policy = self._entries.get(key)
            if policy is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end(key)
            return policy

    def put(self, key: tuple[str, int | None], policy: Policy) -> None:
        with self._lock:
            self._entries[key] = policy
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


_cache = _Cache(maxsize=256)


def compile_policy(document: Any, revision: int | None = None) -> Policy:
    """The compiled policy for a document (a dict read from JSON or YAML), from the cache
    when the same document was compiled before. Raises ``PolicyError`` with every error."""
    key = canonical_json(document)
    if key is not None:
        cached = _cache.get((key, revision))
        if cached is not None:
            return cached
    policy = _compile(document, revision, key)
    if key is not None:
        _cache.put((key, revision), policy)
    return policy


def parse_policy(document: Any, revision: int | None = None) -> Policy:
    """The compiled policy for a document; the name the foundation's callers use."""
    return compile_policy(document, revision)


def check_policy(document: Any) -> list[tuple[str, str]]:
    """Every error in a document, ``[]`` when it is valid; compiles nothing into the cache."""
    try:
        _compile(document, None, canonical_json(document) or "")
    except PolicyError as error:
        return error.errors
    return []


def cache_info() -> tuple[int, int, int]:
    """(hits, misses, size) of the compiled-policy cache."""
    return _cache.hits, _cache.misses, len(_cache)


def cache_clear() -> None:
    _cache.clear()


# Validation and compilation -------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def __call__(self, path: str, message: str) -> None:
        self.found.append((path, message))

    def known(self, mapping: dict[Any, Any], prefix: str, allowed: Sequence[str]) -> None:
        for key in mapping:
            if key not in allowed:
                self(f"{prefix}{key}", "unknown field; expected one of " + ", ".join(allowed))


def _compile(document: Any, revision: int | None, canonical: str | None) -> Policy:
    errors = _Errors()
    if not isinstance(document, dict):
        raise PolicyError("$", "a policy is a JSON object (a YAML mapping)")
    errors.known(document, "", _TOP)
    version = document.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or version != FORMAT_VERSION:
        errors("version", f"only version {FORMAT_VERSION} is understood")
    currency = document.get("currency", "USD")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        errors("currency", f"{currency!r} is not an ISO-4217 currency")
        currency = "USD"

    defaults = _DEFAULTS
    given = document.get("defaults", {})
    if isinstance(given, dict):
        errors.known(given, "defaults.", _SETTERS)
        settings = _settings(given, "defaults.", errors)
        defaults = Defaults(**{name: _filled(settings, name) for name in _SETTERS})
    else:
        errors("defaults", "expected an object")

    rules: list[Rule] = []
    expressions: list[str] = []
    used: set[str] = set()
    constants = Constants()
    given_rules = document.get("rules", [])
    if isinstance(given_rules, list):
        seen: dict[str, int] = {}
        for index, item in enumerate(given_rules):
            compiled = _rule(item, f"rules[{index}]", errors, used, seen, index, constants)
            if compiled is not None:
                rules.append(compiled[0])
                expressions.append(compiled[1])
    else:
        errors("rules", "expected a list of rules")

    if errors.found:
        raise PolicyError(errors.found)
    return Policy(
        currency=currency,
        defaults=defaults,
        chain=build_chain(rules, expressions, frozenset(used), defaults, constants),
        rules=tuple(rules),
        version=FORMAT_VERSION,
        revision=revision,
        canonical=canonical or "",
        uses_amounts=bool(used & {"line_value", "order_value"}),
        uses_order_value="order_value" in used,
        uses_days_since_order="days_since_order" in used,
    )


def _filled(settings: Settings, name: str) -> Any:
    value = getattr(settings, name)
    return getattr(_DEFAULTS, name) if value is None else value


def _rule(
    item: Any,
    path: str,
    errors: _Errors,
    used: set[str],
    seen: dict[str, int],
    index: int,
    constants: Constants,
) -> tuple[Rule, str] | None:
    """The rule and its condition as an expression, or None after reporting its errors."""
    if not isinstance(item, dict):
        errors(path, "a rule is an object with an id, a when and a then")
        return None
    before = len(errors.found)
    errors.known(item, f"{path}.", _RULE)
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        errors(f"{path}.id", "a rule needs an id as text")
        rule_id = ""
    elif rule_id in seen:
        errors(f"{path}.id", f"{rule_id!r} is already the id of rules[{seen[rule_id]}]")
    else:
        seen[rule_id] = index
    if not isinstance(item.get("description", ""), str):
        errors(f"{path}.description", "expected text")
    exception = item.get("statutory_exception", False)
    if not isinstance(exception, bool):
        errors(f"{path}.statutory_exception", "expected true or false")
        exception = False
    expression, reads = compile_when(item.get("when"), f"{path}.when", errors, constants)
    then = item.get("then")
    settings: Settings | None = None
    decision: Outcome | None = None
    reason = queue = ""
    if not isinstance(then, dict) or not then:
        errors(f"{path}.then", "expected an object: values to set, a decision, or both")
    else:
        prefix = f"{path}.then."
        errors.known(then, prefix, _THEN)
        settings = _settings(then, prefix, errors)
        if settings == Settings():
            settings = None
        decision, reason, queue = _decision(then, prefix, errors)
    if exception and decision is not Outcome.DECLINE:
        errors(f"{path}.statutory_exception", "only a rule that declines can be an exception")
    if len(errors.found) > before:
        return None
    used |= reads
    test = predicate(expression, reads, constants)
    return Rule(rule_id, test, settings, decision, reason, queue, exception), expression


def _decision(
    then: dict[str, Any], prefix: str, errors: _Errors
) -> tuple[Outcome | None, str, str]:
    value = then.get("decision")
    reason = then.get("reason", "")
    queue = then.get("queue", "")
    if value is None:
        if "reason" in then or "queue" in then:
            errors(f"{prefix}decision", "a reason or a queue goes with a decision")
        return None, "", ""
    choices = (Outcome.APPROVE, Outcome.DECLINE, Outcome.REVIEW)
    if value not in choices:
        errors(f"{prefix}decision", "expected one of approve, decline, review")
        return None, "", ""
    decision = Outcome(value)
    if "reason" in then and (not isinstance(reason, str) or not _CODE.fullmatch(reason)):
        errors(f"{prefix}reason", "expected a code in capitals, such as FINAL_SALE")
        reason = ""
    if decision is Outcome.DECLINE and "reason" not in then:
        errors(f"{prefix}reason", "a decline needs a reason, such as FINAL_SALE")
    if decision is Outcome.REVIEW:
        if not isinstance(queue, str) or not _NAME.fullmatch(queue):
            errors(f"{prefix}queue", "a review needs a queue name, such as high-value")
            queue = ""
        reason = reason or "REVIEW_" + queue.upper().replace("-", "_").replace(".", "_")
    elif "queue" in then:
        errors(f"{prefix}queue", "only a review goes to a queue")
    if decision is Outcome.APPROVE:
        reason = reason or "APPROVED_BY_RULE"
    return decision, reason, queue


def _settings(given: dict[str, Any], prefix: str, errors: _Errors) -> Settings:
    values: dict[str, Any] = {}
    for name in ("window_days", "require_photos"):
        if name in given:
            values[name] = _whole(given[name], f"{prefix}{name}", errors)
    if "refund_trigger" in given:
        try:
            values["refund_trigger"] = RefundTrigger(given["refund_trigger"])
        except ValueError:
            choices = ", ".join(t.value for t in RefundTrigger)
            errors(f"{prefix}refund_trigger", f"expected one of {choices}")
    if "resolutions" in given:
        values["resolutions"] = _resolutions(given["resolutions"], f"{prefix}resolutions", errors)
    if "restocking_fee" in given:
        values["restocking_fee"] = _fee(given["restocking_fee"], f"{prefix}restocking_fee", errors)
    if "bonus_credit_percent" in given:
        percent = decimal_of(given["bonus_credit_percent"])
        if percent is None or not 0 <= percent <= 1000:
            errors(f"{prefix}bonus_credit_percent", "expected a percentage from 0 to 1000")
        else:
            values["bonus_credit_percent"] = percent
    if "returnless" in given:
        if isinstance(given["returnless"], bool):
            values["returnless"] = given["returnless"]
        else:
            errors(f"{prefix}returnless", "expected true or false")
    return Settings(**{name: value for name, value in values.items() if value is not None})


def _whole(value: Any, path: str, errors: _Errors) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    errors(path, "expected a whole number, 0 or more")
    return None


def _resolutions(value: Any, path: str, errors: _Errors) -> tuple[Resolution, ...] | None:
    choices = ", ".join(r.value for r in Resolution)
    if not isinstance(value, list) or not value:
        errors(path, f"expected a non-empty list of {choices}")
        return None
    result: list[Resolution] = []
    for i, item in enumerate(value):
        try:
            resolution = Resolution(item)
        except ValueError:
            errors(f"{path}[{i}]", f"expected one of {choices}")
            continue
        if resolution in result:
            errors(f"{path}[{i}]", f"{resolution.value} is listed twice")
        else:
            result.append(resolution)
    return tuple(result) if len(result) == len(value) else None


def _fee(value: Any, path: str, errors: _Errors) -> RestockingFee | None:
    if not isinstance(value, dict) or len(value) != 1:
        errors(path, "expected {percent: N} or {amount: N}")
        return None
    ((kind, number),) = value.items()
    amount = decimal_of(number)
    if kind not in ("percent", "amount"):
        errors(f"{path}.{kind}", "unknown field; expected one of percent, amount")
        return None
    if amount is None or amount < 0:
        errors(f"{path}.{kind}", "expected a number, 0 or more")
        return None
    if kind == "percent":
        if amount > 100:
            errors(f"{path}.percent", "expected a percentage from 0 to 100")
            return None
        return RestockingFee(percent=amount)
    return RestockingFee(amount=amount)


DEFAULT_DOCUMENT: dict[str, Any] = {
    "version": 1,
    "currency": "USD",
    "defaults": {"window_days": 30, "refund_trigger": "received", "resolutions": ["refund"]},
    "rules": [
        {
            "id": "high-value",
            "when": {"line_value": {"gt": 300}},
            "then": {"decision": "review", "queue": "high-value"},
        }
    ],
}
DEFAULT_POLICY = compile_policy(copy.deepcopy(DEFAULT_DOCUMENT))
