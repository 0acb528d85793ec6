"""Storage: SQLAlchemy models, the ``Database`` handle and the migrations that build it."""

from . import models
from .session import Database

__all__ = ["Database", "models"]
