"""The SSRF guard: webhooks go only to http(s) URLs on public addresses. Link-local (including the
cloud metadata address 169.254.169.254), private, shared, reserved and multicast addresses are
refused, and loopback too unless the setting allows it (tests, local development).

The host is resolved and every address checked when an endpoint is registered, and again on each
delivery: the resolver the HTTP client connects through drops disallowed addresses, so a name
re-pointed at an internal address after registration (DNS rebinding) reaches nothing.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class UnsafeUrl(ValueError):
    pass


def address_allowed(address: str, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_loopback and ip.is_loopback:
        return True
    # is_global alone lets some multicast ranges through (224.0.0.0/24 counts as global).
    return ip.is_global and not ip.is_multicast


def split(url: str) -> tuple[str, int]:
    """(host, port) of an acceptable URL; raises UnsafeUrl for anything but http(s) with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs are allowed")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL are not allowed")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def check(url: str, allow_loopback: bool) -> None:
    """Refuses the URL unless every address its host resolves to is allowed."""
    host, port = split(url)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UnsafeUrl(f"the host {host!r} does not resolve") from exc
        addresses = [info[4][0] for info in infos]
    refused = [a for a in addresses if not address_allowed(a, allow_loopback)]
    if refused or not addresses:
        raise UnsafeUrl(f"the host {host!r} resolves to a non-public address")


class GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then keeps only allowed addresses. IP literals do not
    pass through a resolver, so deliveries call `split` and `address_allowed` on those first."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        results = [r for r in await self._inner.resolve(host, port, family)
                   if address_allowed(r["host"], self.allow_loopback)]
        if not results:
            raise OSError(f"{host} resolves to no public address")
        return results

    async def close(self) -> None:
        await self._inner.close()


def literal_refused(url: str, allow_loopback: bool) -> bool:
    host, _ = split(url)
    literal = _literal(host)
    return literal is not None and not address_allowed(literal, allow_loopback)
