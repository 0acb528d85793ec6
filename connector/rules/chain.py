"""A policy's rules joined into one generated function: the compiled form the engine runs.

``build_chain(rules, defaults, constants)`` writes, once per policy, the function a person would
write by hand for it: one ``if`` per rule in document order, each setting the values its
``then`` sets, the first one with a decision returning at once. It returns, for a line's
facts, ``(rule_ids, deciding_rule, window_days, refund_trigger, resolutions, require_photos,
restocking_fee, bonus_credit_percent, returnless)``, the ids a tuple in order of matching and
the deciding rule ``None`` when no rule decided.

As in ``conditions.py``, the generated source holds only templates, generated names and
indices; rule ids, settings and the rules themselves are constants in its namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .conditions import Constants, define, unpack

if TYPE_CHECKING:
    from .policy import Defaults, Rule

Chain = Callable[[tuple[Any, ...]], tuple[Any, ...]]

# Each setting's local variable in the generated function, in the order the chain returns them.
_LOCALS = {
    "window_days": "w",
    "refund_trigger": "t",
    "resolutions": "rs",
    "require_photos": "ph",
    "restocking_fee": "fe",
    "bonus_credit_percent": "bo",
    "returnless": "rl",
}
_RESULT = ", ".join(_LOCALS.values())


def build_chain(
    rules: Sequence[Rule],
    expressions: Sequence[str],
    used: frozenset[str],
    defaults: Defaults,
    constants: Constants,
) -> Chain:
    """The policy's function over a line's facts; ``expressions[i]`` is ``rules[i]``'s
    condition as ``conditions.compile_when`` wrote it."""
    lines = ["def chain(x):", unpack(used).rstrip("\n") or "    pass", "    ids = ()"]
    for name, local in _LOCALS.items():
        lines.append(f"    {local} = {constants.add(getattr(defaults, name))}")
    for rule, expression in zip(rules, expressions, strict=True):
        body = [f"ids += {constants.add((rule.id,))}"]
        if rule.settings is not None:
            for name, local in _LOCALS.items():
                value = getattr(rule.settings, name)
                if value is not None:
                    body.append(f"{local} = {constants.add(value)}")
        if rule.decision is not None:
            body.append(f"return ids, {constants.add(rule)}, {_RESULT}")
        if expression == "True":
            lines.extend(f"    {statement}" for statement in body)
            if rule.decision is not None:
                break  # the rules after an unconditional decision never run
        else:
            lines.append(f"    if {expression}:")
            lines.extend(f"        {statement}" for statement in body)
    else:
        lines.append(f"    return ids, None, {_RESULT}")
    chain: Chain = define("\n".join(lines) + "\n", "chain", constants)
    return chain
