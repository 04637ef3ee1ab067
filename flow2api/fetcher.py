"""The one guarded fetcher for URLs fetched on a client's behalf (input image URLs of every surface).

A client's URL must never reach the gateway's own network (issue 18, server-side request forgery):

* ``http``/``https`` only; at most :data:`MAX_REDIRECTS` redirects, each hop checked again;
* every address a hop would connect to must be public unicast (:func:`is_public`: no loopback, private,
  link-local — 169.254.169.254 included —, CGNAT, unique-local, IPv4-mapped/6to4/NAT64 forms of those,
  ``0.0.0.0/8``, multicast, reserved), unless an operator allowed its network (``[inputs] allow_networks``);
* the connection goes to the address that was checked: host names are resolved by :class:`GuardedResolver`,
  which drops refused addresses before aiohttp's connector sees them (no DNS-rebinding window), and literal
  addresses, which aiohttp connects to without resolving, are checked before the request;
* the body is read in chunks up to the size cap (413 past it), with connect and total time limits;
* every failure is the same client error (:data:`FETCH_FAILED`), so the answer does not tell whether a port
  is open, a host exists or what it answered.

With ``[inputs] use_proxy`` the fetch goes through the ``[proxy]`` session; the proxy then resolves the name,
so only literal addresses are checked (docs/api.md, *Image URLs*).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Final

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from flow2api.errors import InvalidRequestError, PayloadTooLargeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
FETCH_FAILED = "An input image URL could not be fetched: it must be a public http(s) URL that answers with the image."
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is public unicast (``ipaddress``'s IANA special-purpose registries, plus multicast and
    reserved ranges); an IPv6 address that embeds an IPv4 one (mapped, 6to4, NAT64) is judged by that address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return False  # an IPv4 peer spelled as IPv6: the IPv4 policy is the one that applies, refuse the form
        embedded = address.sixtofour or (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None)
        if embedded is not None and not is_public(embedded):
            return False
        if address.teredo is not None and not is_public(address.teredo[1]):
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


class AddressPolicy:
    """Which peer addresses a client's URL may reach: public unicast, plus the networks an operator allowed."""

    def __init__(self, allow_networks: Iterable[str] = ()) -> None:
        """``allow_networks``: CIDR strings (``"10.0.0.0/8"``); raises ``ValueError`` for a malformed one."""
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)

    def permits(self, address: str | IPAddress) -> bool:
        """Whether a connection to ``address`` (text or parsed; a zone id ``%eth0`` is ignored) is allowed."""
        if isinstance(address, str):
            try:
                address = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                return False
        if any(address.version == net.version and address in net for net in self.allowed):
            return True
        return is_public(address)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that returns only the addresses :class:`AddressPolicy` permits (an empty answer is an
    ``OSError``, which aiohttp reports as a connection error): the connector can only dial checked addresses."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        """The permitted answers of the inner resolver for ``host``; ``OSError`` when none is permitted."""
        answers = [a for a in await self.inner.resolve(host, port, family) if self.policy.permits(a["host"])]
        if not answers:
            raise OSError(f"no permitted address for {host!r}")
        return answers

    async def close(self) -> None:
        """Close the inner resolver."""
        await self.inner.close()


class GuardedFetcher:
    """Fetches client-given URLs under the rules of the module docstring; one per app (:data:`FETCHER`)."""

    def __init__(self, policy: AddressPolicy, *, timeout: float = 30, connect_timeout: float = 10) -> None:
        """``timeout``/``connect_timeout`` in seconds (whole fetch incl. redirects / one connection)."""
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The direct session whose connector resolves through :class:`GuardedResolver` (created on first use)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy), limit=0, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        """Close the session (app clean-up)."""
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str, *, param: str, max_bytes: int,
                    via: aiohttp.ClientSession | None = None) -> bytes:
        """The body of ``url`` (≤ ``max_bytes``), following at most :data:`MAX_REDIRECTS` checked redirects.

        ``via``: a proxy session to use instead of the guarded direct one (``[inputs] use_proxy``).
        Raises ``InvalidRequestError`` (400, :data:`FETCH_FAILED`, naming ``param``) for any refusal or failure,
        ``PayloadTooLargeError`` (413) when the body is larger than ``max_bytes``.
        """
        session = via or self.session
        target = self._checked(url, param)
        try:
            async with asyncio.timeout(self.timeout.total):
                for _hop in range(MAX_REDIRECTS + 1):
                    async with session.get(target, allow_redirects=False, timeout=self.timeout) as resp:
                        if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                            target = self._checked(str(resp.url.join(URL(resp.headers["Location"]))), param)
                            continue
                        if resp.status != 200:
                            raise _failed(param)
                        if (resp.content_length or 0) > max_bytes:
                            raise _too_large(param, max_bytes)
                        return await _read_capped(resp, param, max_bytes)
                raise _failed(param)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            raise _failed(param) from None

    def _checked(self, url: str, param: str) -> URL:
        """``url`` parsed, when its scheme is http(s) and a literal host address is permitted; else 400."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            raise _failed(param) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise _failed(param)
        host = parsed.host.strip("[]")
        try:
            literal = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return parsed  # a name: GuardedResolver checks what it resolves to
        if not self.policy.permits(literal):
            raise _failed(param)
        return parsed


async def _read_capped(resp: aiohttp.ClientResponse, param: str, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(param, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


class ImageUrlError(InvalidRequestError):
    """400: a client's image URL was refused or could not be fetched (one message for every cause)."""

    code = "invalid_image_url"


def _failed(param: str) -> ImageUrlError:
    return ImageUrlError(FETCH_FAILED, param=param)


def _too_large(param: str, max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"An input image is larger than {max_bytes // 1024} KiB.", param=param)


FETCHER: Final = web.AppKey("input_fetcher", GuardedFetcher)
