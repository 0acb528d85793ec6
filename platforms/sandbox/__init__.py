"""The sandbox platform: a simulated marketplace store that behaves like a real one.

``SandboxMarketplace`` is the simulated store's own back end (a SQLite file); ``SandboxPlatform``
is the adapter Helloword uses to talk to it, through the same ports, signed webhooks and
idempotency keys as a real marketplace adapter.
"""

from .adapter import SandboxPlatform
from .marketplace import SandboxMarketplace

__all__ = ["SandboxMarketplace", "SandboxPlatform"]
