"""Encryption of secrets at rest (Fernet, from ``cryptography``) and the key's life cycle."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"


def load_or_create_key(data_dir: Path, configured: str | None = None) -> bytes:
    """The Fernet key: ``configured`` when given, else ``<data_dir>/secret.key``, created (mode 0600) on first start.

    Raises ``ValueError`` when a configured or stored key is not a valid Fernet key.
    """
    if configured:
        key = configured.encode()
    else:
        path = data_dir / KEY_FILE
        if path.exists():
            key = path.read_bytes().strip()
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key + b"\n")
            log.info("generated a new secrets key in %s", path)
    try:
        Fernet(key)
    except ValueError:
        raise ValueError("the secrets key is not a valid Fernet key (32 url-safe base64-encoded bytes)") from None
    return key


class SecretBox:
    """Encrypts a mapping of secret strings to one opaque token and back."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secrets: Mapping[str, str]) -> bytes:
        """Encrypt ``secrets`` (str → str) into a Fernet token."""
        return self._fernet.encrypt(json.dumps(dict(secrets), separators=(",", ":")).encode())

    def open(self, token: bytes | None) -> dict[str, str]:
        """Decrypt a token made by :meth:`seal`; raises ``ValueError`` when it was made with another key."""
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise ValueError("stored secrets cannot be decrypted with the configured key") from None


def mask(secret: str | None, keep: int = 4) -> str:
    """A display form of a secret: its last ``keep`` characters behind asterisks, never more than a quarter of it."""
    if not secret:
        return ""
    keep = min(keep, len(secret) // 4)
    return "*" * 8 + (secret[-keep:] if keep else "")
