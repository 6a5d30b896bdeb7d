"""As a Home Assistant add-on: tell the Supervisor where the Wyoming server listens.

The Supervisor passes the message (`POST /discovery`, service `wyoming`) on to Home Assistant,
which offers the server under *Discovered*; it takes the place of zeroconf in an add-on. The
add-on's `config.yaml` must list `wyoming` under `discovery`, or the Supervisor refuses.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Optional

import aiohttp

_LOGGER = logging.getLogger(__name__)

SERVICE = "wyoming"
ATTEMPTS = 5
RETRY_SECONDS = 3.0


async def wait_listening(host: str, port: int, timeout: float = 120.0) -> None:
    """Until something accepts TCP connections on `host:port` (the Wyoming server has
    opened its port: Home Assistant connects as soon as it hears of the server)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return


async def announce(
    url: str,
    token: str,
    port: int,
    host: Optional[str] = None,
    retry_seconds: float = RETRY_SECONDS,
) -> None:
    """Send the discovery message `tcp://HOST:PORT` (HOST: this container's host name, which
    Home Assistant resolves on the add-ons' network); tries `ATTEMPTS` times, then raises."""
    uri = f"tcp://{host or socket.gethostname()}:{port}"
    message = {"service": SERVICE, "config": {"uri": uri}}
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    failure = ""
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with http.post(f"{url}/discovery", json=message, headers=headers) as answer:
                    if answer.status == 200:
                        _LOGGER.info("Announced %s to Home Assistant through the Supervisor", uri)
                        return
                    failure = f"HTTP {answer.status}: {(await answer.text())[:200]}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                failure = f"{type(err).__name__}: {err}"
            _LOGGER.warning("Supervisor discovery, attempt %d failed: %s", attempt, failure)
            if attempt < ATTEMPTS:
                await asyncio.sleep(retry_seconds)
    raise RuntimeError(f"the Supervisor did not take the discovery message ({failure})")
