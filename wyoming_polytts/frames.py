"""Reading Wyoming frames with limits, so a client cannot make the server buffer gigabytes.

The `wyoming` library's reader trusts `data_length` and `payload_length` and reads whatever
they announce. This reader checks every header first: a JSON object with a string `type`,
an object `data`, and lengths within `FrameLimits`; anything else is a `FrameError`, after
which the connection cannot be trusted to be in step and is closed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

from wyoming.event import Event


@dataclass(frozen=True)
class FrameLimits:
    """The largest frame parts a client may send (a TTS client sends only text)."""

    header_bytes: int = 16 * 1024
    data_bytes: int = 256 * 1024
    payload_bytes: int = 1024 * 1024


class FrameError(Exception):
    """A frame that breaks the protocol or the limits; the message says how."""


async def read_frame(reader: asyncio.StreamReader, limits: FrameLimits) -> Optional[Event]:
    """The next event, or None at a clean end of stream; raises `FrameError`."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise FrameError("The connection ended inside a frame header") from None
    except asyncio.LimitOverrunError:
        raise FrameError(f"A frame header is longer than {limits.header_bytes} bytes") from None
    if len(line) > limits.header_bytes:
        raise FrameError(f"A frame header is longer than {limits.header_bytes} bytes")
    header = _json_object(line, "frame header")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise FrameError("A frame header has no 'type' string")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise FrameError("'data' must be a JSON object")
    data_length = _length(header, "data_length", limits.data_bytes)
    payload_length = _length(header, "payload_length", limits.payload_bytes)
    try:
        if data_length:
            data = {**data, **_json_object(await reader.readexactly(data_length), "data")}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        raise FrameError("The connection ended inside a frame") from None
    return Event(type=event_type, data=data, payload=payload)


def _json_object(raw: bytes, what: str) -> Dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FrameError(f"The {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise FrameError(f"The {what} must be a JSON object")
    return value


def _length(header: Dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FrameError(f"'{key}' must be a non-negative integer")
    if value > limit:
        raise FrameError(f"'{key}' is {value} bytes; at most {limit} are accepted")
    return value
