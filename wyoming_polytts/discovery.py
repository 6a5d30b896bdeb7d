"""Zeroconf (mDNS) announcement of `_wyoming._tcp.local.` for Home Assistant discovery."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Optional

from zeroconf import InterfaceChoice
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"


def lan_address() -> str:
    """The address this machine uses towards the mDNS group (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((_MDNS_GROUP, 5353))
        return str(probe.getsockname()[0])


class ZeroconfAnnouncer:
    """Registers the server under `NAME._wyoming._tcp.local.` as long as it runs.

    Unlike `wyoming.zeroconf.HomeAssistantZeroconf`, the interface is a choice: with
    `host` given, mDNS is sent and answered on that address only.
    """

    def __init__(self, name: str, port: int, host: Optional[str] = None) -> None:
        self.name = name
        self.port = port
        self.host = host or lan_address()
        interfaces = [self.host] if host else InterfaceChoice.All
        self._zeroconf = AsyncZeroconf(interfaces=interfaces)
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[ipaddress.ip_address(self.host).packed],
            port=port,
        )
        self._registered = False

    async def start(self) -> None:
        await self._zeroconf.async_register_service(self._info)
        self._registered = True
        _LOGGER.info("Announced %s on %s:%s by zeroconf", self._info.name, self.host, self.port)

    async def stop(self) -> None:
        """Withdraw the announcement, if it was made, and close the mDNS sockets."""
        if self._registered:
            await self._zeroconf.async_unregister_service(self._info)
            self._registered = False
        await self._zeroconf.async_close()
