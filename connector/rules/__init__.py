"""The return policy: a merchant's document, read into a ``Policy``, applied to each line.

``decide(request, order, policy, today)`` is the whole interface: it returns a ``Decision``
with one ``LineDecision`` per requested line, each naming the rule ids that produced it and a
reason a buyer and a seller can read.
"""

from .engine import Decision, LineDecision, Outcome, decide
from .policy import DEFAULT_POLICY, Policy, PolicyError, RefundTrigger, parse_policy

__all__ = [
    "DEFAULT_POLICY",
    "Decision",
    "LineDecision",
    "Outcome",
    "Policy",
    "PolicyError",
    "RefundTrigger",
    "decide",
    "parse_policy",
]
