"""Zeroconf discovery on a virtual LAN, the way Home Assistant meets the server.

The test makes two network namespaces joined by a veth pair (nothing else in them, so no
packet, multicast included, can leave), runs the server in one, announcing
`_wyoming._tcp.local.` on its end of the link, and in the other a zeroconf browser that finds
the service, resolves its address and completes `describe` over TCP. Needs root and
iproute2's `ip netns`; skipped with the reason where namespaces cannot be made, unless
POLYTTS_REQUIRE_NETNS=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from wyoming_polytts.launch import free_port

SUFFIX = f"{os.getpid() % 100000}"
SERVER_NS, CLIENT_NS = f"polytts-srv-{SUFFIX}", f"polytts-cli-{SUFFIX}"
SERVER_LINK, CLIENT_LINK = f"pts{SUFFIX}", f"ptc{SUFFIX}"  # at most 15 characters
# 198.18.0.0/15 is set aside for test networks (RFC 2544); it lives only inside the pair.
SERVER_ADDRESS, CLIENT_ADDRESS = "198.18.0.1", "198.18.0.2"
BROWSER = Path(__file__).with_name("zeroconf_browser.py")


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=True, timeout=30)
    return done.stdout


def _cannot(reason: str) -> None:
    message = f"cannot make network namespaces here: {reason}"
    if os.environ.get("POLYTTS_REQUIRE_NETNS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def virtual_lan() -> Iterator[None]:
    """Two namespaces and one veth link between them, removed afterwards."""
    if shutil.which("ip") is None:
        _cannot("no `ip` command (iproute2; script/setup --browser installs it)")
    if os.geteuid() != 0:
        _cannot("it takes root")
    made: List[str] = []
    try:
        for namespace in (SERVER_NS, CLIENT_NS):
            try:
                _ip("netns", "add", namespace)
            except subprocess.CalledProcessError as err:
                _cannot(f"`ip netns add` failed: {err.stderr.strip()}")
            made.append(namespace)
        _ip(
            "link", "add", SERVER_LINK, "netns", SERVER_NS,
            "type", "veth", "peer", "name", CLIENT_LINK, "netns", CLIENT_NS,
        )  # fmt: skip
        for namespace, link, address in (
            (SERVER_NS, SERVER_LINK, SERVER_ADDRESS),
            (CLIENT_NS, CLIENT_LINK, CLIENT_ADDRESS),
        ):
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", link)
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "link", "set", link, "up")
            _ip("-n", namespace, "route", "add", "224.0.0.0/4", "dev", link)
        yield
    finally:
        for namespace in made:  # deleting a namespace deletes its end of the link too
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


def _links(namespace: str) -> List[str]:
    return [link["ifname"] for link in json.loads(_ip("-j", "-n", namespace, "link", "show"))]


def test_the_server_is_found_and_described_across_a_virtual_lan(
    virtual_lan: None, data_dir: Path, tmp_path: Path
) -> None:
    # Nothing but loopback and the link: multicast cannot leave the pair.
    assert sorted(_links(SERVER_NS)) == sorted(["lo", SERVER_LINK])
    assert sorted(_links(CLIENT_NS)) == sorted(["lo", CLIENT_LINK])
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            "ip", "netns", "exec", SERVER_NS,
            sys.executable, "-m", "wyoming_polytts",
            "--uri", f"tcp://{SERVER_ADDRESS}:{port}",
            "--data-dir", str(data_dir),
            "--no-http", "--no-download", "--no-zipvoice", "--no-transcriber",
            "--zeroconf", "polytts-lan", "--zeroconf-host", SERVER_ADDRESS,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        browsed = subprocess.run(
            ["ip", "netns", "exec", CLIENT_NS, sys.executable, str(BROWSER), CLIENT_ADDRESS, "90"],
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert browsed.returncode == 0, browsed.stderr + (tmp_path / "server.log").read_text()
        found = json.loads(browsed.stdout)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert found["name"] == "polytts-lan._wyoming._tcp.local."
    assert (found["host"], found["port"]) == (SERVER_ADDRESS, port)
    assert found["program"] == "wyoming-polytts" and "jm_kumo" in found["voices"]
