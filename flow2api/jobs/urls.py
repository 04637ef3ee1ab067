"""Public URLs of cached media: the base URL a request is answered under, ``/media/<name>`` links, signing.

Clients never see an upstream URL: the job engine stores every output in the
media cache and hands out these links; inputs that point back at one of them
are read from the cache (:func:`media_name_from_url`).
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from aiohttp import web

from flow2api.media import MediaStore
from flow2api.settings import SETTINGS, SettingsHolder

_MEDIA_PATH = re.compile(r"/media/([A-Za-z0-9_-]{16,64}\.[a-z0-9]{2,5})$")
DEFAULT_SIGNED_TTL = 7 * 24 * 3600.0  # seconds a signed link lives when neither the cache nor the link has a TTL


def public_base_url(request: web.Request) -> str:
    """Base URL for media links: ``[cache] base_url``, else the request's (honouring ``X-Forwarded-Proto/Host``)."""
    configured = request.config_dict[SETTINGS].current.cache.base_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{proto}://{host}"


def media_url(settings: SettingsHolder, media: MediaStore, base: str, name: str) -> str:
    """The public URL of cached file ``name``: ``<base>/media/<name>``, signed when ``[cache] sign_urls`` is on.

    A signed URL is valid for ``[cache] signed_url_ttl`` seconds, else as long
    as the file (``[cache] timeout``), else 7 days.
    """
    url = f"{base}/media/{name}"
    cache = settings.current.cache
    if not cache.sign_urls:
        return url
    ttl = cache.signed_url_ttl or cache.timeout or DEFAULT_SIGNED_TTL
    return f"{url}?{media.signer.query(name, int(time.time() + ttl))}"


def media_name_from_url(url: str) -> str | None:
    """The cache file name when ``url`` (absolute or a path) points at ``/media/<name>``, else ``None``.

    Query strings (signatures) are ignored: the unguessable name is what
    identifies one of our files.
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    match = _MEDIA_PATH.search(path)
    return match[1] if match else None
