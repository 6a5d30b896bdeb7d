"""What Home Assistant does on a LAN, run by the namespace test on the other side of the link:
browse `_wyoming._tcp.local.` on one address, resolve the service found, send `describe` to
its address and port over TCP, and print what was found as JSON.

Usage: python tests/zeroconf_browser.py ADDRESS SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, Dict

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_wyoming._tcp.local."


async def browse(address: str, seconds: float) -> Dict[str, Any]:
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Added and not found.done():
            found.set_result(name)

    mdns = AsyncZeroconf(interfaces=[address])
    browser = AsyncServiceBrowser(mdns.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        name = await asyncio.wait_for(found, seconds)
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(mdns.zeroconf, 5000):
            raise RuntimeError(f"{name} was found but could not be resolved")
        host, port = info.parsed_addresses()[0], info.port
    finally:
        await browser.async_cancel()
        await mdns.async_close()
    assert port is not None
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), 30)
            if event is None:
                raise RuntimeError("the server closed the connection before info")
            if Info.is_type(event.type):
                break
    program = Info.from_event(event).tts[0]
    return {
        "name": name,
        "host": host,
        "port": port,
        "program": program.name,
        "voices": [voice.name for voice in program.voices],
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(browse(sys.argv[1], float(sys.argv[2])))))
