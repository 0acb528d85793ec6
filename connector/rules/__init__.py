"""The return policy: a merchant's document, compiled into a ``Policy``, applied to each line.

``decide(request, order, policy, today)`` decides a stored return; ``evaluate(policy, facts)``
decides a request described as plain facts (the preview). Both return a ``Decision`` with one
``LineDecision`` per requested line, each naming the rules that produced it, a reason code and
messages that explain it in the buyer's language.
"""

from .engine import (
    STATUTORY_COUNTRIES,
    Converter,
    Decision,
    LineDecision,
    LineFacts,
    NoExchangeRate,
    RequestContext,
    RequestFacts,
    decide,
    evaluate,
)
from .messages import Message, render
from .policy import (
    DEFAULT_DOCUMENT,
    DEFAULT_POLICY,
    Outcome,
    Policy,
    PolicyError,
    RefundTrigger,
    Resolution,
    check_policy,
    compile_policy,
    parse_policy,
    parse_policy_text,
)

__all__ = [
    "DEFAULT_DOCUMENT",
    "DEFAULT_POLICY",
    "STATUTORY_COUNTRIES",
    "Converter",
    "Decision",
    "LineDecision",
    "LineFacts",
    "Message",
    "NoExchangeRate",
    "Outcome",
    "Policy",
    "PolicyError",
    "RefundTrigger",
    "RequestContext",
    "RequestFacts",
    "Resolution",
    "check_policy",
    "compile_policy",
    "decide",
    "evaluate",
    "parse_policy",
    "parse_policy_text",
    "render",
]
