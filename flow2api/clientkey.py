"""The settings' client key (``[global] api_key``): generated when unset, refused when well known on a public bind.

Issue 18 finding 11: the original project's default key ``han1234`` is public
knowledge, so flow2api ships no default. :func:`settle_client_key` runs once
when the server starts (after the admin site's stored changes are applied):

* ``[global] api_key`` unset → a random ``sk-f2a-…`` key is generated on the
  first start and kept in ``<data_dir>/api_key`` (0600); later starts read
  it. The start-up banner prints it the one time it is generated, afterwards
  only where it is. The file lives in the *base* data directory, not in
  ``<data_dir>/demo``, so a client configured during the demo keeps working
  once real accounts are added.
* ``[global] api_key = "han1234"`` set explicitly → one warning; refused with
  :class:`~flow2api.settings.SettingsError` when the server listens on a
  non-loopback address, unless ``[global] allow_default_key = true``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flow2api.settings import Settings, SettingsError

log = logging.getLogger(__name__)

WELL_KNOWN_KEY = "han1234"
KEY_FILE = "api_key"
KEY_PREFIX = "sk-f2a-"

Origin = Literal["generated", "stored", "configured"]


@dataclass(frozen=True, slots=True)
class ClientKey:
    """Where the key in force came from: ``origin`` generated now / read from ``path`` / configured in ``source``.

    ``value`` is the key itself; only the banner shows it, and only when ``origin`` is ``generated``.
    """

    value: str
    origin: Origin
    path: Path | None = None
    source: str = ""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a ``[server] host``) accepts only local connections: ``localhost`` or a loopback address."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def _read_or_create(path: Path) -> tuple[str, bool]:
    """The key in ``path``, or a new one written there (0600, data dir 0700); True when it was created now."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    # O_EXCL: two servers starting at once must not both write (and print) a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip(), False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    return key, True


def settle_client_key(settings: Settings, key_dir: Path) -> tuple[Settings, ClientKey]:
    """The settings with ``[global] api_key`` filled in, and where it came from.

    ``key_dir`` holds the generated key (the base data directory, also in
    demo mode). Raises ``SettingsError`` for the well-known key on a
    non-loopback ``[server] host`` without ``[global] allow_default_key``.
    """
    configured = settings.global_.api_key
    if configured is not None and configured.get_secret_value():
        key = configured.get_secret_value()
        if key == WELL_KNOWN_KEY:
            public = not is_loopback(settings.server.host)
            if public and not settings.global_.allow_default_key:
                raise SettingsError(
                    f"{settings.source_of('global', 'api_key')}: [global] api_key: the well-known key "
                    f"'{WELL_KNOWN_KEY}' is refused on {settings.server.host}, which is reachable from other hosts; "
                    "set another key, remove it to have one generated, or set [global] allow_default_key = true"
                )
            log.warning("[global] api_key is the well-known default '%s': anyone who knows the original project "
                        "can use this gateway; remove it to have a random key generated", WELL_KNOWN_KEY)
        return settings, ClientKey(key, "configured", source=settings.source_of("global", "api_key"))
    path = key_dir / KEY_FILE
    key, created = _read_or_create(path)
    settled = settings.with_overrides(origin=str(path), **{"global": {"api_key": key}})
    return settled, ClientKey(key, "generated" if created else "stored", path=path)
