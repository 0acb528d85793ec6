"""The ``when`` part of a rule: validated once, compiled into Python that reads a line's facts.

At evaluation the engine describes a line as one tuple, ``facts``, laid out as ``FACTS`` says
(``facts[7]`` is the line's value in the policy currency). A condition compiles into a Python
expression over those facts (``f7 > k3``), its operands checked and converted here (amounts to
``Decimal``, lists to frozensets, patterns to compiled regexes) and bound as named constants.
``chain.py`` joins the expressions of every rule into one function per policy, so a request
costs one comparison per condition and no call, lookup or parsing.

Only fixed templates, integer indices and generated names ever become source code, never a
value from a document: those reach the code as constants in its namespace, the way
``dataclasses`` writes ``__init__``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import re2

from ..domain.returns import Condition, Reason

Facts = tuple[Any, ...]
Predicate = Callable[[Facts], bool]
Report = Callable[[str, str], None]  # (path, message): how a validation error is recorded

# The layout of a line's facts: name → (index, kind).
FACTS: dict[str, tuple[int, str]] = {
    "days_since_delivery": (0, "days"),
    "days_since_order": (1, "days"),
    "country": (2, "country"),
    "platform": (3, "text"),
    "sku": (4, "text"),
    "tag": (5, "tags"),
    "category": (6, "text"),
    "line_value": (7, "amount"),
    "order_value": (8, "amount"),
    "quantity": (9, "count"),
    "reason": (10, "reason"),
    "condition": (11, "condition"),
    "photos": (12, "count"),
    "customer_returns_90d": (13, "count"),
    "customer_return_rate": (14, "number"),
    "risk_score": (15, "number"),
}
FACT_COUNT = len(FACTS)

OPERATORS = ("eq", "in", "not_in", "lt", "lte", "gt", "gte", "between", "matches")
COMBINATORS = ("all", "any", "not")
MAX_DEPTH = 16  # combinators nested deeper than this are refused
MAX_PATTERN = 500
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported by path, not logged
_ORDERED = frozenset({"days", "count", "number", "amount"})
_TEXTUAL = frozenset({"text", "country", "tags", "reason", "condition"})
_REASONS = tuple(reason.value for reason in Reason)
_CONDITIONS = tuple(condition.value for condition in Condition)
_COUNTRY = re.compile(r"[A-Z]{2}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

_LITERAL_PREFIX = re.compile(r"\^([A-Za-z0-9_\-:/ ]+)")  # a pattern that is ^ and plain text
_COMPARISONS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# {f} is the fact, {v} the operand, {lo} and {hi} the ends of a range.
_TEMPLATES: dict[str, dict[str, str]] = {
    # Facts always present.
    "plain": {
        "eq": "{f} == {v}",
        "in": "{f} in {v}",
        "not_in": "{f} not in {v}",
        **{op: f"{{f}} {sign} {{v}}" for op, sign in _COMPARISONS.items()},
        "between": "{lo} <= {f} <= {hi}",
        "matches": "{v}({f}) is not None",
    },
    # Facts that may be unknown (None), such as the days since an undelivered line's
    # delivery: every condition on an unknown fact is false.
    "nullable": {
        "eq": "{f} == {v}",
        "in": "{f} in {v}",
        "not_in": "({f} is not None and {f} not in {v})",
        **{op: f"({{f}} is not None and {{f}} {sign} {{v}})" for op, sign in _COMPARISONS.items()},
        "between": "({f} is not None and {lo} <= {f} <= {hi})",
    },
    # A set of tags: ``eq`` is "carries this tag", ``in`` "carries any of them".
    "tags": {
        "eq": "{v} in {f}",
        "in": "not {v}.isdisjoint({f})",
        "not_in": "{v}.isdisjoint({f})",
        "matches": "any(map({v}, {f}))",
    },
}
_FAMILY = {"tags": "tags", "days": "nullable"}


class Constants:
    """The values generated code refers to, each under a generated name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"k{len(self.values)}"
        self.values[name] = value
        return name


def fact_local(name: str) -> str:
    """The local variable that holds a fact in generated code."""
    return f"f{FACTS[name][0]}"


def unpack(used: frozenset[str] | set[str], indent: str = "    ") -> str:
    """Source lines that read the facts an expression uses out of the tuple ``x``."""
    indices = sorted(FACTS[name][0] for name in used)
    return "".join(f"{indent}f{i} = x[{i}]\n" for i in indices)


def define(source: str, name: str, constants: Constants) -> Any:
    """Executes generated ``source`` with the constants as its globals; returns ``name``."""
    namespace = dict(constants.values)
    exec(compile(source, f"<policy {name}>", "exec"), namespace)
    return namespace[name]


def compile_when(
    node: Any, path: str, report: Report, constants: Constants
) -> tuple[str, frozenset[str]]:
    """A rule's ``when`` as a Python expression and the facts it reads; errors go to
    ``report`` (the expression is then meaningless). No ``when`` always matches."""
    if node is None:
        return "True", frozenset()
    used: set[str] = set()
    expression = _node(node, path, report, used, constants, 0)
    return expression, frozenset(used)


def predicate(expression: str, used: frozenset[str], constants: Constants) -> Predicate:
    """One rule's condition as a function of the facts tuple."""
    source = f"def test(x):\n{unpack(used)}    return bool({expression})\n"
    test: Predicate = define(source, "test", constants)
    return test


def _node(
    node: Any, path: str, report: Report, used: set[str], constants: Constants, depth: int
) -> str:
    if depth > MAX_DEPTH:
        report(path, f"conditions nest more than {MAX_DEPTH} levels deep")
        return "True"
    if not isinstance(node, dict):
        report(path, "expected an object of conditions, such as {tag: final-sale}")
        return "True"
    parts = []
    for key, value in node.items():
        where = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                report(where, "expected a non-empty list of conditions")
                continue
            items = [
                _node(item, f"{where}[{i}]", report, used, constants, depth + 1)
                for i, item in enumerate(value)
            ]
            parts.append(_join(items, "and" if key == "all" else "or"))
        elif key == "not":
            parts.append(f"(not {_node(value, where, report, used, constants, depth + 1)})")
        elif key in FACTS:
            used.add(key)
            parts.append(_fact(key, value, where, report, constants))
        else:
            report(where, "unknown condition; expected one of " + ", ".join([*FACTS, *COMBINATORS]))
    return _join(parts, "and") if parts else "True"


def _join(parts: list[str], operator: str) -> str:
    return parts[0] if len(parts) == 1 else "(" + f" {operator} ".join(parts) + ")"


def _fact(name: str, value: Any, path: str, report: Report, constants: Constants) -> str:
    operations = value if isinstance(value, dict) else {"eq": value}
    if not operations:
        report(path, "expected a value or an operator: " + ", ".join(OPERATORS))
        return "True"
    parts = []
    for op, operand in operations.items():
        where = path if operations is not value else f"{path}.{op}"
        leaf = _leaf(name, str(op), operand, where, report, constants)
        if leaf is not None:
            parts.append(leaf)
    return _join(parts, "and") if parts else "True"


def _leaf(
    name: str, op: str, operand: Any, path: str, report: Report, constants: Constants
) -> str | None:
    index, kind = FACTS[name]
    if op not in OPERATORS:
        report(path, "unknown operator; expected one of " + ", ".join(OPERATORS))
        return None
    if (op in _COMPARISONS or op == "between") and kind not in _ORDERED:
        report(path, f"{op} compares numbers; {name} is not a number")
        return None
    if op == "matches" and kind not in _TEXTUAL:
        report(path, f"matches reads text; {name} is a number")
        return None
    template = _TEMPLATES[_FAMILY.get(kind, "plain")][op]
    fact = f"f{index}"
    if op == "matches":
        pattern = _pattern(operand, path, report)
        if pattern is None:
            return None
        literal = _LITERAL_PREFIX.fullmatch(pattern.pattern)
        if literal and kind != "tags":  # ^GC- reads as startswith, several times faster
            return f"{fact}.startswith({constants.add(literal.group(1))})"
        return template.format(f=fact, v=constants.add(pattern.search))
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            report(path, f"expected a non-empty list of {_NOUNS[kind]}s")
            return None
        values = [_operand(kind, item, f"{path}[{i}]", report) for i, item in enumerate(operand)]
        if any(item is None for item in values):
            return None
        return template.format(f=fact, v=constants.add(frozenset(values)))
    if op == "between":
        if not isinstance(operand, list) or len(operand) != 2:
            report(path, f"expected [low, high], two {_NOUNS[kind]}s")
            return None
        low = _operand(kind, operand[0], f"{path}[0]", report)
        high = _operand(kind, operand[1], f"{path}[1]", report)
        if low is None or high is None:
            return None
        if low > high:
            report(path, "low is above high")
            return None
        return template.format(f=fact, lo=constants.add(low), hi=constants.add(high))
    single = _operand(kind, operand, path, report)
    return None if single is None else template.format(f=fact, v=constants.add(single))


_NOUNS = {
    "days": "whole number",
    "count": "whole number",
    "number": "number",
    "amount": "number",
    "text": "text value",
    "tags": "tag",
    "country": "country code",
    "reason": "reason",
    "condition": "condition",
}


def _operand(kind: str, value: Any, path: str, report: Report) -> Any:
    """The operand as the engine compares it, or None after reporting why it cannot be."""
    if kind in ("days", "count"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        report(path, "expected a whole number")
        return None
    if kind in ("number", "amount"):
        number = decimal_of(value)
        if number is None:
            report(path, "expected a number")
        return number
    if not isinstance(value, str) or not value:
        report(path, f"expected a {_NOUNS[kind]} as text")
        return None
    if kind == "country" and not _COUNTRY.fullmatch(value):
        report(path, f"{value!r} is not an ISO 3166 alpha-2 country code such as DE")
        return None
    if kind == "reason" and value not in _REASONS:
        report(path, f"{value!r} is not a reason; expected one of " + ", ".join(_REASONS))
        return None
    if kind == "condition" and value not in _CONDITIONS:
        report(path, f"{value!r} is not a condition; expected one of " + ", ".join(_CONDITIONS))
        return None
    return value


def _pattern(value: Any, path: str, report: Report) -> Any:
    """The pattern compiled by RE2, whose matching takes time linear in the text: a policy's
    pattern runs on every request, so none may backtrack for ever (``^(a+)+$``)."""
    if not isinstance(value, str) or not value:
        report(path, "expected a regular expression as text")
        return None
    if len(value) > MAX_PATTERN:
        report(path, f"a pattern is at most {MAX_PATTERN} characters")
        return None
    try:
        return re2.compile(value, options=_RE2_OPTIONS)
    except (re2.error, OverflowError, RecursionError) as error:
        detail = error.args[0] if error.args else error
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        report(path, f"invalid regular expression: {detail}")
        return None


MAX_NUMBER = Decimal(10) ** 12  # no amount, count or percentage in a policy comes near


def decimal_of(value: Any) -> Decimal | None:
    """A document's number as an exact ``Decimal``: floats through ``str`` (``12.5`` is
    ``Decimal("12.5")``, never its binary expansion), numeric text as written; else None,
    also for numbers beyond a trillion or finer than a millionth, which no policy means."""
    number = _decimal(value)
    if number is None or number.adjusted() > 12 or abs(number) > MAX_NUMBER:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        return None
    return number


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        value = str(value)
    elif isinstance(value, Decimal):
        return value if value.is_finite() else None
    if not isinstance(value, str) or not _NUMBER.fullmatch(value.strip()):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None
