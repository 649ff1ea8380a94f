"""Believe ``X-Forwarded-For`` and ``X-Forwarded-Proto`` only from ``TRUSTED_PROXIES``.

Behind a load balancer every request comes from the balancer's address, so limits keyed on
``REMOTE_ADDR`` would put the whole site in one bucket. The headers are anyone's to forge,
though: they count only when the direct peer is a configured proxy. Then ``REMOTE_ADDR``
becomes the client's address (the rightmost untrusted hop), and Django's
``SECURE_PROXY_SSL_HEADER`` reads the scheme; from any other peer both headers are dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def forwarded_client(peer: str, forwarded_for: str, networks: Sequence[Network]) -> str | None:
    """Return the client address a trusted ``peer`` reports, or None to keep ``peer``.

    Each proxy appends the address it received the request from, so the list is read from
    the right, past our own proxies; what the client itself wrote further left is ignored.
    """
    if not _trusted(_address(peer), networks):
        return None
    client = None
    for hop in reversed([hop.strip() for hop in forwarded_for.split(",") if hop.strip()]):
        address = _address(hop)
        if address is None:
            break  # Garbled: keep the last address a trusted proxy vouched for.
        client = str(address)
        if not _trusted(address, networks):
            break
    return client


class TrustedProxyMiddleware:
    """Apply ``TRUSTED_PROXIES`` to every request (first in ``MIDDLEWARE``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        networks = _networks(tuple(settings.TRUSTED_PROXIES))
        meta = request.META
        peer = str(meta.get("REMOTE_ADDR") or "")
        if networks and _trusted(_address(peer), networks):
            client = forwarded_client(peer, str(meta.get("HTTP_X_FORWARDED_FOR", "")), networks)
            if client is not None:
                meta["REMOTE_ADDR"] = client
        else:
            meta.pop("HTTP_X_FORWARDED_FOR", None)
            meta.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)
