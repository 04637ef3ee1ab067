"""Signed, expiring media URLs (``[cache] sign_urls``): ``/media/<name>?expires=<unix s>&sig=<hex>``.

``sig`` is HMAC-SHA256 over ``"<name>:<expires>"`` with a 32-byte key kept in
the data directory (``media.key``, mode 0600, created on first use), so links
survive restarts and stop working at ``expires`` even while the file is cached.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

KEY_BYTES = 32


class UrlSigner:
    """Signs and verifies ``(name, expires)`` pairs with one HMAC key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the media URL signing key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_key_file(cls, path: Path) -> UrlSigner:
        """Load the key from ``path``, creating it (random, mode 0600) when missing."""
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(KEY_BYTES)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process won the race: use its key
                return cls(path.read_bytes())
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
            log.info("generated a new media URL signing key in %s", path)
            return cls(key)

    def signature(self, name: str, expires: int) -> str:
        """The hex signature of ``name`` valid until ``expires`` (Unix seconds)."""
        return hmac.new(self._key, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, name: str, expires: int) -> str:
        """The query string (without ``?``) that makes a URL for ``name`` valid until ``expires``."""
        return f"expires={expires}&sig={self.signature(name, expires)}"

    def verify(self, name: str, expires: str | None, sig: str | None, *, now: float) -> bool:
        """True when ``sig`` is the signature of ``(name, expires)`` and ``expires`` is not past ``now``."""
        if not expires or not sig or not expires.isdigit():
            return False
        if int(expires) < now:
            return False
        return hmac.compare_digest(self.signature(name, int(expires)), sig)
