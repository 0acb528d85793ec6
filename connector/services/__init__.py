"""Use cases: each function does one piece of a return's journey inside a transaction it is
given, and says which jobs must follow once that transaction has committed."""

from .common import FollowUp

__all__ = ["FollowUp"]
