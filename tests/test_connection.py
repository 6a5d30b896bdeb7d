"""Ending connections: what is unsent is counted, and a close waits for it or resets."""

from __future__ import annotations

import asyncio
import socket
from typing import List

import pytest

from wyoming_polytts.connection import close_when_sent, unsent_bytes


async def _pair(receive_buffer: int) -> tuple:
    """A loopback connection: the server side's writer, and a client socket that never reads."""
    accepted: List[asyncio.StreamWriter] = []

    async def on_client(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    client.settimeout(10)
    await asyncio.to_thread(client.connect, ("127.0.0.1", port))
    while not accepted:
        await asyncio.sleep(0.01)
    return server, accepted[0], client


async def test_data_a_client_has_read_is_no_longer_unsent() -> None:
    server, writer, client = await _pair(1 << 20)
    with client:
        writer.write(b"x" * 1000)
        await writer.drain()
        received = b""
        while len(received) < 1000:
            received += await asyncio.to_thread(client.recv, 4096)
        for _ in range(100):  # the acknowledgement follows the read
            if not unsent_bytes(writer.transport):
                break
            await asyncio.sleep(0.01)
        assert unsent_bytes(writer.transport) == 0
        await close_when_sent(writer.transport, 1.0)
        assert await asyncio.to_thread(client.recv, 10) == b""  # a plain close: end of file
    server.close()


async def test_a_close_resets_a_connection_whose_client_never_reads() -> None:
    server, writer, client = await _pair(4096)
    with client:
        writer.write(b"x" * 200_000)  # more than the client's buffer holds
        await asyncio.sleep(0.1)
        assert unsent_bytes(writer.transport) > 0
        await close_when_sent(writer.transport, 0.2)
        assert writer.transport.is_closing()
        with pytest.raises(ConnectionResetError):
            while await asyncio.to_thread(client.recv, 65536):
                pass
    server.close()
