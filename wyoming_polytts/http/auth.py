"""The admin token: where it comes from, and how requests prove they hold it."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Collection, Optional, Sequence, Tuple

from aiohttp import web

from ..fileio import atomic_write_bytes

_LOGGER = logging.getLogger(__name__)

TOKEN_FILE = "admin_token"
SESSION_COOKIE = "polytts_session"
TOKEN_HEADER = "X-Admin-Token"
SESSION_SECONDS = 7 * 24 * 3600  # how long a sign-in on the page lasts
Clock = Callable[[], float]


def load_or_create_token(data_dir: Path, given: Optional[str]) -> str:
    """`--admin-token`, else the token stored in the data dir, else a new one stored there."""
    if given:
        return given
    path = data_dir / TOKEN_FILE
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    atomic_write_bytes(path, f"{token}\n".encode(), mode=0o600)
    _LOGGER.warning(
        "Created an admin token for the web page and API; read it with: cat %s", path.resolve()
    )
    return token


class LoginLimiter:
    """At most `attempts` failed sign-ins per client address in a window of `window_seconds`.

    The window starts at an address's first failure; once it holds `attempts` failures the
    address is refused, right token or not, until the window has passed. A success resets
    nothing (one address may be a proxy for several people). Memory stays bounded: windows
    that have passed are dropped, and beyond `max_clients` addresses the oldest go first.
    """

    def __init__(
        self,
        attempts: int = 5,
        window_seconds: float = 60.0,
        clock: Clock = time.monotonic,
        max_clients: int = 4096,
    ) -> None:
        self.attempts = attempts
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_clients = max_clients
        self._failures: OrderedDict[str, Tuple[float, int]] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may try now."""
        entry = self._failures.get(client)
        if entry is None:
            return 0.0
        started, failures = entry
        left = started + self.window_seconds - self._clock()
        return left if left > 0 and failures >= self.attempts else 0.0

    def failed(self, client: str) -> None:
        """Count a failed attempt of `client`."""
        now = self._clock()
        self._prune(now)
        started, failures = self._failures.pop(client, (now, 0))
        self._failures[client] = (started, failures + 1)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)

    def _prune(self, now: float) -> None:
        # Windows are equally long and kept in the order they started: expired ones lead.
        while self._failures:
            started, _ = next(iter(self._failures.values()))
            if started + self.window_seconds > now:
                break
            self._failures.popitem(last=False)


class Guard:
    """Checks the admin token in a header (API) or a session cookie (page); requests from a
    trusted proxy (`trusted_proxies`) need none.

    The cookie holds `<expires>.<HMAC-SHA256(token, "polytts-session:<expires>")>`, where
    `expires` is a Unix time: it proves a sign-in without holding the token, and ends.
    """

    def __init__(
        self,
        token: str,
        session_seconds: int = SESSION_SECONDS,
        clock: Optional[Clock] = None,
        limiter: Optional[LoginLimiter] = None,
        api_keys: Sequence[str] = (),
        trusted_proxies: Collection[str] = (),
    ) -> None:
        self._token = token.encode()
        self._api_keys = tuple(key.encode() for key in api_keys)
        self.trusted_proxies = frozenset(ipaddress.ip_address(a) for a in trusted_proxies)
        self.session_seconds = session_seconds
        self._clock: Clock = clock or time.time
        self.limiter = limiter or LoginLimiter(clock=clock or time.monotonic)

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def session_value(self) -> str:
        """A new session cookie's value, valid for `session_seconds` from now."""
        expires = int(self._clock()) + self.session_seconds
        return f"{expires}.{self._session_mac(expires)}"

    def session_valid(self, value: str) -> bool:
        expires, _, mac = value.partition(".")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            return False
        valid = hmac.compare_digest(mac.encode(), self._session_mac(int(expires)).encode())
        return valid and int(expires) > self._clock()

    def _session_mac(self, expires: int) -> str:
        message = f"polytts-session:{expires}".encode()
        return hmac.new(self._token, message, hashlib.sha256).hexdigest()

    @property
    def has_api_keys(self) -> bool:
        return bool(self._api_keys)

    def api_key_matches(self, request: web.Request) -> bool:
        """Whether the request's `Authorization: Bearer` holds one of the API keys."""
        candidate = _bearer(request).encode()
        # Every key is compared, so the time taken says nothing about which one is close.
        matches = [hmac.compare_digest(candidate, key) for key in self._api_keys]
        return bool(candidate) and any(matches)

    def via_trusted_proxy(self, request: web.Request) -> bool:
        """Whether the request comes from a trusted proxy (Home Assistant's ingress), which
        lets only its own signed-in users through: it counts as signed in."""
        if not self.trusted_proxies or not request.remote:
            return False
        try:
            address = ipaddress.ip_address(request.remote)
        except ValueError:  # a Unix socket or no peer
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return address in self.trusted_proxies

    def allows(self, request: web.Request) -> bool:
        """Whether the request comes from a trusted proxy or holds the admin token (header,
        Bearer or session cookie)."""
        if self.via_trusted_proxy(request):
            return True
        header = request.headers.get(TOKEN_HEADER, "") or _bearer(request)
        if header:
            return self.token_matches(header)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and self.session_valid(cookie)

    def login_retry_after(self, client: str) -> int:
        """Whole seconds `client` must wait before its next sign-in; 0 if it may sign in."""
        return math.ceil(self.limiter.retry_after(client))


def _bearer(request: web.Request) -> str:
    authorization = request.headers.get("Authorization", "")
    return authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""
