"""Fetch a prompt recording from a URL without letting the URL reach inside the network.

Every hop (the URL and each redirect) must be http(s), and every address its host resolves
to must be public: private, loopback, link-local, multicast and reserved addresses are
refused unless allowed. The check sits in the resolver the connection itself uses, so a
name cannot resolve one way for the check and another way for the connection. Bodies are
capped whether or not a Content-Length is sent; the whole fetch has a time limit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Union
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from ..fileio import atomic_write_bytes

_LOGGER = logging.getLogger(__name__)

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
MAX_REDIRECTS = 5


class DownloadError(Exception):
    """A URL that cannot be used as a source, with the reason."""


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs may be fetched, how much, and for how long."""

    allow_private: bool = False
    extra_allowed: Sequence[Network] = field(default_factory=tuple)  # e.g. a test server
    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 20.0

    def check_address(self, address: Address) -> None:
        if self.allow_private or any(address in network for network in self.extra_allowed):
            return
        if not address.is_global or address.is_multicast:
            raise DownloadError(f"Refusing to download from a non-public address ({address})")


class _GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses forbidden addresses."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> List[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(ipaddress.ip_address(result["host"]))
        return results

    async def close(self) -> None:
        await self._inner.close()


def _check_url(url: str, policy: UrlPolicy) -> None:
    """Scheme and literal-address checks (names are checked when they are resolved)."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DownloadError("Only http:// and https:// URLs can be downloaded")
    try:
        literal: Optional[Address] = ipaddress.ip_address(parsed.host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        policy.check_address(literal)


async def fetch(url: str, policy: UrlPolicy) -> bytes:
    """The body at `url`, following at most `MAX_REDIRECTS` checked redirects."""
    connector = aiohttp.TCPConnector(resolver=_GuardedResolver(policy), use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=policy.timeout_seconds)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                _check_url(url, policy)
                async with session.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            raise DownloadError("A redirect without a Location header")
                        url = urljoin(url, location)
                        continue
                    if response.status != 200:
                        raise DownloadError(f"The server answered HTTP {response.status}")
                    return await _read_capped(response, policy.max_bytes)
            raise DownloadError(f"More than {MAX_REDIRECTS} redirects")
    except DownloadError:
        raise
    except TimeoutError as err:
        raise DownloadError(f"The download took longer than {policy.timeout_seconds:g} s") from err
    except aiohttp.ClientError as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, DownloadError):  # raised by the resolver inside the connector
            raise cause from None
        raise DownloadError(f"The download failed: {err}") from err


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > limit:
        raise DownloadError(f"The file is {declared / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB")
    body = bytearray()
    async for block in response.content.iter_chunked(64 * 1024):
        body += block
        if len(body) > limit:
            raise DownloadError(f"The file is larger than the limit of {limit / 1e6:g} MB")
    return bytes(body)


class UrlCache:
    """Downloaded sources on disk, by the SHA-256 of their URL.

    At most `max_entries` files, none older than `max_age_seconds`: older ones are not used
    and are removed at the next download, and beyond the count the oldest go first.
    """

    def __init__(
        self, folder: Path, max_entries: int = 32, max_age_seconds: float = 24 * 3600.0
    ) -> None:
        self.folder = folder
        self.max_entries = max_entries
        self.max_age_seconds = max_age_seconds

    def _path(self, url: str) -> Path:
        return self.folder / hashlib.sha256(url.encode()).hexdigest()

    def _expired(self, path: Path) -> bool:
        return time.time() - path.stat().st_mtime > self.max_age_seconds

    def get(self, url: str) -> Optional[bytes]:
        path = self._path(url)
        try:
            return None if self._expired(path) else path.read_bytes()
        except FileNotFoundError:
            return None

    def put(self, url: str, body: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(url), body)
        self._prune()

    def _prune(self) -> None:
        """Remove expired files, then the oldest beyond `max_entries`."""
        files = []
        for item in self._items():
            try:
                files.append((item.stat().st_mtime, item))
            except FileNotFoundError:
                continue  # removed meanwhile by another request
        files.sort(reverse=True)  # newest first
        cutoff = time.time() - self.max_age_seconds
        for index, (modified, item) in enumerate(files):
            if index >= self.max_entries or modified < cutoff:
                item.unlink(missing_ok=True)

    def _items(self) -> List[Path]:
        """The cached downloads; hidden files are writes in progress (of this server or
        another that shares the data dir), left alone."""
        if not self.folder.is_dir():
            return []
        return [item for item in self.folder.iterdir() if not item.name.startswith(".")]

    def __len__(self) -> int:
        return len(self._items())

    def clear(self) -> int:
        """Remove every cached download; returns how many."""
        removed = 0
        for item in self._items():
            item.unlink(missing_ok=True)
            removed += 1
        return removed
