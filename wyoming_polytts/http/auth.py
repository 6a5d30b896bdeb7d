"""The admin token: where it comes from, and how requests prove they hold it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Optional

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

TOKEN_FILE = "admin_token"
SESSION_COOKIE = "polytts_session"
TOKEN_HEADER = "X-Admin-Token"


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
    staging = path.with_suffix(".part")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, path)
    _LOGGER.warning(
        "Created an admin token for the web page and API; read it with: cat %s", path.resolve()
    )
    return token


class Guard:
    """Checks the admin token in a header (API) or a session cookie (page)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._session = hmac.new(self._token, b"polytts-session", hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def session_value(self) -> str:
        """What the session cookie holds: derived from the token, never the token itself."""
        return self._session

    def allows(self, request: web.Request) -> bool:
        header = request.headers.get(TOKEN_HEADER, "")
        if not header:
            authorization = request.headers.get("Authorization", "")
            if authorization.startswith("Bearer "):
                header = authorization[len("Bearer ") :]
        if header:
            return self.token_matches(header)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), self._session.encode())
