"""Credentials encrypted at rest, with key rotation.

The first key of ``HELLOWORD_ENCRYPTION_KEYS`` encrypts; every key decrypts, so a new key is
put first and the old one kept until ``rotate`` has re-encrypted what the old one sealed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import PermanentError


class Vault:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, secrets: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(dict(secrets)).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode())))
        except InvalidToken:
            raise PermanentError("stored credentials cannot be decrypted with any key") from None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode() if token else token
