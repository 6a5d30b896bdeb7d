"""Ending TCP connections for good: a bounded send buffer, a close that waits for the client
to take what was sent, and a reset that makes the kernel drop what it still holds."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import struct
import termios

from .settings import CLOSE_POLL_SECONDS

_LOGGER = logging.getLogger(__name__)

SEND_BUFFER_BYTES = 256 * 1024  # about 5 s of audio: a stalled client soon blocks the writes


def limit_send_buffer(transport: asyncio.BaseTransport) -> None:
    """Keep the kernel from buffering megabytes for a client that does not read."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


async def close_when_sent(transport: asyncio.WriteTransport, seconds: float) -> None:
    """Close once what was written has reached the client; reset it after `seconds`.

    A plain close would leave the unsent data with the kernel, which keeps the connection
    (and its buffer) for as long as a client that never reads keeps acknowledging probes.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while unsent_bytes(transport) and loop.time() < deadline:
            await asyncio.sleep(CLOSE_POLL_SECONDS)
    finally:  # cancelled too (the server stops): the connection never stays open
        if unsent_bytes(transport):
            _LOGGER.info("Resetting a connection whose client did not take its data")
            reset(transport)
        else:
            transport.close()


def unsent_bytes(transport: asyncio.WriteTransport) -> int:
    """Bytes written that the client has not acknowledged yet: in the transport's buffer and,
    on Linux, in the socket's send queue (SIOCOUTQ)."""
    if transport.is_closing():
        return 0
    queued = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            queue = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
            queued += struct.unpack("i", queue)[0]
    return queued


def reset(transport: asyncio.WriteTransport) -> None:
    """End the connection at once: a TCP reset, and the kernel drops what it still holds."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
