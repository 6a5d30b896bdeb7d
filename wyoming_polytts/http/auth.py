"""The admin token and the API keys: where the token comes from, how requests prove they
hold a secret, and the one limit on guessing any of them.

A secret is presented four ways: the sign-in form (`/api/login`), the `X-Admin-Token` header,
`Authorization: Bearer` (the admin token or an API key) and the page's session cookie. Each
wrong one counts against the client's address in one `SecretLimiter`; a locked-out address
gets 429 for every request that presents a secret, the right one included.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Optional, Sequence, Tuple

from aiohttp import web

from ..fileio import atomic_write_bytes, create_exclusive
from ..settings import SECRET_ATTEMPTS, SECRET_CLIENTS, SECRET_WINDOW_SECONDS, ip_address

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
    if not create_exclusive(path, f"{token}\n".encode(), mode=0o600):
        # Another server sharing the data dir created one a moment ago: use it. An empty
        # token file (made by hand) is replaced.
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored
        atomic_write_bytes(path, f"{token}\n".encode(), mode=0o600)
    _LOGGER.warning(
        "Created an admin token for the web page and API; read it with: cat %s", path.resolve()
    )
    return token


class SecretLimiter:
    """At most `attempts` wrong secrets per client address in a window of `window_seconds`.

    An address's window starts at its first failure. Once the window holds `attempts`
    failures the address is refused, right secret or not, until the window has passed; its
    next failure then starts a new window. A right secret resets nothing (one address may be
    a proxy for several people), and a refused request is not counted. Memory stays bounded:
    windows that have passed are dropped, and beyond `max_clients` addresses the oldest
    window goes first.
    """

    def __init__(
        self,
        attempts: int = SECRET_ATTEMPTS,
        window_seconds: float = SECRET_WINDOW_SECONDS,
        clock: Clock = time.monotonic,
        max_clients: int = SECRET_CLIENTS,
    ) -> None:
        self.attempts = attempts
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_clients = max_clients
        # client -> (window start, failures), in the order the windows started
        self._failures: OrderedDict[str, Tuple[float, int]] = OrderedDict()

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
        """Count a wrong secret of `client`."""
        now = self._clock()
        self._prune(now)
        entry = self._failures.get(client)
        if entry is None:  # a new window, after the others in start order
            self._failures[client] = (now, 1)
        else:  # the same window: its place in the order stays
            self._failures[client] = (entry[0], entry[1] + 1)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)

    def _prune(self, now: float) -> None:
        # Windows are equally long and kept in the order they started: passed ones lead.
        while self._failures:
            started, _ = next(iter(self._failures.values()))
            if started + self.window_seconds > now:
                break
            self._failures.popitem(last=False)


class TooManyAttempts(Exception):
    """A client address that presented too many wrong secrets: refused for `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many wrong tokens or keys; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Access:
    """What the secrets of one request prove."""

    admin: bool = False  # the admin token (header, Bearer, session cookie) or the trusted proxy
    api_key: bool = False  # one of the API keys (Bearer)
    via_proxy: bool = False  # the trusted proxy (Home Assistant's ingress) vouches for it
    foreign_session: bool = False  # a session cookie this server did not sign: drop it

    @property
    def private(self) -> bool:
        """Whether it may read what is private: clone transcripts, sources and recordings."""
        return self.admin or self.api_key


try:
    from aiohttp.web import RequestKey

    ACCESS = RequestKey("polytts_access", Access)
except ImportError:  # aiohttp before 3.14 keys a request's storage by strings
    ACCESS = "polytts_access"  # type: ignore[assignment]


def client_address(request: web.Request) -> str:
    """The address the limiter counts a request's failures for: its peer."""
    return request.remote or ""


class Guard:
    """Checks the secrets a request presents: the admin token in a header (API) or a session
    cookie (page), an API key as Bearer; requests from a trusted proxy (`trusted_proxies`)
    need none and are never limited. Every wrong secret counts in `limiter`.

    The cookie holds `<expires>.<HMAC-SHA256(token, "polytts-session:<expires>")>`, where
    `expires` is a Unix time: it proves a sign-in without holding the token, and ends.
    """

    def __init__(
        self,
        token: str,
        session_seconds: int = SESSION_SECONDS,
        clock: Optional[Clock] = None,
        limiter: Optional[SecretLimiter] = None,
        api_keys: Sequence[str] = (),
        trusted_proxies: Collection[str] = (),
    ) -> None:
        self._token = token.encode()
        self._api_keys = tuple(key.encode() for key in api_keys)
        self.trusted_proxies = frozenset(ip_address(a) for a in trusted_proxies)
        self.session_seconds = session_seconds
        self._clock: Clock = clock or time.time
        if limiter is None:  # (an empty limiter is falsy: it has a length)
            limiter = SecretLimiter(clock=clock or time.monotonic)
        self.limiter = limiter

    @property
    def has_api_keys(self) -> bool:
        return bool(self._api_keys)

    def session_value(self) -> str:
        """A new session cookie's value, valid for `session_seconds` from now."""
        expires = int(self._clock()) + self.session_seconds
        return f"{expires}.{self._session_mac(expires)}"

    def via_trusted_proxy(self, request: web.Request) -> bool:
        """Whether the request comes from a trusted proxy (Home Assistant's ingress), which
        lets only its own signed-in users through: it counts as signed in."""
        if not self.trusted_proxies or not request.remote:
            return False
        try:
            return ip_address(request.remote) in self.trusted_proxies
        except ValueError:  # a Unix socket or no peer
            return False

    def access(self, request: web.Request) -> Access:
        """What the request's secrets prove, checked once per request: a wrong one counts
        against its address. Raises `TooManyAttempts` when the address is locked out and the
        request presents a secret; a request that presents none is never refused here."""
        known = request.get(ACCESS)
        if known is not None:
            return known
        if self.via_trusted_proxy(request):
            access = Access(admin=True, via_proxy=True)
        else:
            access = self._check(request)
        request[ACCESS] = access
        return access

    def sign_in(self, request: web.Request, token: object) -> bool:
        """Whether `token` (from the sign-in form) is the admin token; a wrong one counts.
        Raises `TooManyAttempts` when the address is locked out."""
        client = client_address(request)
        # No await between the check and the count: parallel guesses are all counted.
        self._refuse_locked(client)
        if isinstance(token, str) and self._is_token(token):
            return True
        self.limiter.failed(client)
        return False

    def _check(self, request: web.Request) -> Access:
        header = request.headers.get(TOKEN_HEADER, "")
        bearer = _bearer(request)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if not (header or bearer or cookie):
            return Access()
        client = client_address(request)
        self._refuse_locked(client)
        header_admin = bool(header) and self._is_token(header)
        bearer_admin = bool(bearer) and self._is_token(bearer)
        bearer_key = bool(bearer) and self._is_api_key(bearer)
        signed, foreign = self._session(cookie) if cookie else (False, False)
        if (
            (header and not header_admin)
            or (bearer and not (bearer_admin or bearer_key))
            or foreign
        ):
            self.limiter.failed(client)
        return Access(
            admin=header_admin or bearer_admin or signed,
            api_key=bearer_key,
            foreign_session=foreign,
        )

    def _refuse_locked(self, client: str) -> None:
        wait = math.ceil(self.limiter.retry_after(client))
        if wait > 0:
            raise TooManyAttempts(wait)

    def _is_token(self, candidate: str) -> bool:
        return hmac.compare_digest(_raw(candidate), self._token)

    def _is_api_key(self, candidate: str) -> bool:
        # Every key is compared, so the time taken says nothing about which one is close.
        matches = [hmac.compare_digest(_raw(candidate), key) for key in self._api_keys]
        return any(matches)

    def _session(self, value: str) -> Tuple[bool, bool]:
        """Whether a session cookie is a live sign-in, and whether this server never signed
        it (a guess, or one signed with an earlier token). An expired one is neither."""
        expires, _, mac = value.partition(".")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            return False, True
        if not hmac.compare_digest(_raw(mac), self._session_mac(int(expires)).encode()):
            return False, True
        return int(expires) > self._clock(), False

    def _session_mac(self, expires: int) -> str:
        message = f"polytts-session:{expires}".encode()
        return hmac.new(self._token, message, hashlib.sha256).hexdigest()


def _raw(text: str) -> bytes:
    """The bytes a client sent: header bytes that are not UTF-8 arrive as surrogates."""
    return text.encode("utf-8", "surrogatepass")


def _bearer(request: web.Request) -> str:
    authorization = request.headers.get("Authorization", "")
    return authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""
