"""Zeroconf announcement, bound to loopback so no packet leaves this machine."""

from __future__ import annotations

from pathlib import Path

from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from wyoming_polytts.discovery import SERVICE_TYPE

from .helpers import start_server


async def test_server_is_discoverable_as_wyoming_service(data_dir: Path, tmp_path: Path) -> None:
    server = start_server(
        data_dir,
        tmp_path / "server.log",
        ["--no-download", "--zeroconf", "polytts-test", "--zeroconf-host", "127.0.0.1"],
    )
    browser = AsyncZeroconf(interfaces=["127.0.0.1"])
    try:
        info = AsyncServiceInfo(SERVICE_TYPE, f"polytts-test.{SERVICE_TYPE}")
        assert await info.async_request(browser.zeroconf, 5000)
        assert info.port == server.port
        assert info.parsed_addresses() == ["127.0.0.1"]
    finally:
        await browser.async_close()
        assert server.stop() == 0
    assert "Announced polytts-test._wyoming._tcp.local." in server.log()
