"""What a provider factory receives at start-up: its context, the config error it raises, the proxy errors.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import aiohttp_socks
import python_socks

T = TypeVar("T")


#: Exceptions a ``Call.http`` request raises when the account's proxy (not the upstream) failed.
#: The core routes sessions through aiohttp-socks, whose errors are not ``aiohttp.ClientError``s;
#: providers map these to ``ProxyConnectError`` so the failure counts against the proxy, not Google.
PROXY_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientProxyConnectionError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyTimeoutError,
    python_socks.ProxyError,
    python_socks.ProxyConnectionError,
    python_socks.ProxyTimeoutError,
)



class PluginConfigError(Exception):
    """A plugin's settings section is invalid; the message names section and key, never a secret value."""


@dataclass(frozen=True, slots=True)
class PluginContext:
    """What a provider factory receives once at start-up.

    ``sections`` maps settings section names (``"flow"``, ``"captcha"`` …) to the
    raw key/value pairs of that section from the settings file and environment;
    the provider validates the ones it owns and lists them in its family's
    ``config_sections``. ``data_dir`` is the server's data directory.
    """

    sections: Mapping[str, Mapping[str, Any]]
    data_dir: Path
    _shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def shared(self, key: str, create: Callable[[], T]) -> T:
        """The object ``create()`` returned the first time a provider of this context asked for ``key``.

        The core builds every provider from one context per start-up
        (:func:`flow2api.discovery.build_providers`), so the providers of one
        distribution share one account family this way (its settings, locks,
        pollers, reCAPTCHA chain) instead of building one each.
        """
        if key not in self._shared:
            self._shared[key] = create()
        return self._shared[key]


