"""The Home Assistant add-on repository (`homeassistant/`) against the Supervisor's documented
add-on configuration (required keys, types, option schema), and its run script against the
server's real command line.

No Supervisor runs here: the schema below transcribes the documentation (developers' site,
"Add-on configuration"), and unknown keys are refused so that a misspelt key, which the
Supervisor would drop in silence, fails instead.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import subprocess
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest
import voluptuous as vol
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from wyoming_polytts import __version__, addon
from wyoming_polytts.settings import SUPERVISOR_URL, parse_settings

from .helpers import describe, start_server

REPOSITORY = Path(__file__).resolve().parent.parent / "homeassistant"
ADDON = REPOSITORY / "polytts"
ARCHES = ("armhf", "armv7", "aarch64", "amd64", "i386")
PORT_KEY = re.compile(r"^\d{1,5}/(tcp|udp)$")
MAP_TYPES = (
    "homeassistant_config",
    "addon_config",
    "ssl",
    "addons",
    "backup",
    "share",
    "media",
    "all_addon_configs",
    "data",
    "config",
)
OPTION_TYPE = re.compile(
    r"^(?:str|int|float)(?:\((-?[\d.]+)?,(-?[\d.]+)?\))?\??$"
    r"|^(?:bool|email|url|password|port)\??$"
    r"|^match\(.+\)\??$"
    r"|^list\([^|()]+(?:\|[^|()]+)*\)\??$"
    r"|^device(?:\(.+\))?\??$"
)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise vol.Invalid(f"{value!r} is not a port")
    return value


def _map_entry(value: Any) -> Any:
    if isinstance(value, str):
        return vol.Match(rf"^({'|'.join(MAP_TYPES)})(:(rw|ro))?$")(value)
    return vol.Schema({vol.Required("type"): vol.In(MAP_TYPES), "read_only": bool, "path": str})(
        value
    )


ADDON_CONFIG = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Required("version"): str,
        vol.Required("slug"): vol.Match(r"^[a-z0-9_]+$"),
        vol.Required("description"): str,
        vol.Required("arch"): [vol.In(ARCHES)],
        "url": vol.Url(),
        "init": bool,
        "startup": vol.In(("initialize", "system", "services", "application", "once")),
        "boot": vol.In(("auto", "manual", "manual_only")),
        "discovery": [str],
        "ingress": bool,
        "ingress_port": vol.Any(_port, 0),
        "ingress_entry": str,
        "ingress_stream": bool,
        "panel_icon": vol.Match(r"^mdi:[a-z0-9-]+$"),
        "panel_title": str,
        "panel_admin": bool,
        "watchdog": vol.Match(r"^(?:https?|\[PROTO:\w+\]|tcp)://\[HOST\]:(\[PORT:\d+\]|\d+).*$"),
        "webui": str,
        "ports": {vol.Match(PORT_KEY): vol.Any(_port, None)},
        "ports_description": {vol.Match(PORT_KEY): str},
        "map": [_map_entry],
        "backup_exclude": [str],
        "homeassistant": str,
        "image": str,
        "options": dict,
        "schema": {str: vol.Match(OPTION_TYPE)},
    },
    extra=vol.PREVENT_EXTRA,
)
BUILD_CONFIG = vol.Schema(
    {
        "build_from": {vol.In(ARCHES): vol.Match(r"^[\w.\-/]+(:[\w.\-]+)?$")},
        "args": {str: str},
        "labels": {str: str},
        "squash": bool,
    },
    extra=vol.PREVENT_EXTRA,
)
REPOSITORY_CONFIG = vol.Schema(
    {vol.Required("name"): str, "url": vol.Url(), "maintainer": str}, extra=vol.PREVENT_EXTRA
)


def _yaml(path: Path) -> Dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


@pytest.fixture(scope="module")
def config() -> Dict[str, Any]:
    return ADDON_CONFIG(_yaml(ADDON / "config.yaml"))


def test_the_repository_and_the_add_on_files_follow_the_documented_schema(
    config: Dict[str, Any],
) -> None:
    REPOSITORY_CONFIG(_yaml(REPOSITORY / "repository.yaml"))
    build = BUILD_CONFIG(_yaml(ADDON / "build.yaml"))
    assert set(build["build_from"]) == set(config["arch"])
    assert all("home-assistant" in image for image in build["build_from"].values())
    assert config["version"] == build["args"]["POLYTTS_VERSION"] == __version__
    for name in ("Dockerfile", "run.sh", "DOCS.md", "CHANGELOG.md"):
        assert (ADDON / name).is_file(), name
    dockerfile = (ADDON / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("ARG BUILD_FROM") == 1 and "FROM ${BUILD_FROM}" in dockerfile


def test_what_home_assistant_needs_is_declared(config: Dict[str, Any]) -> None:
    assert config["discovery"] == ["wyoming"]
    assert "10200/tcp" in config["ports"]  # reached inside the host; opened on it by choice
    assert config["ingress"] is True and config["init"] is False
    assert {"type": "share", "read_only": True} in config["map"]


def _option_matches(kind: str, value: Any) -> bool:
    base = kind.rstrip("?")
    name, _, bounds = base.partition("(")
    if name == "bool":
        return isinstance(value, bool)
    if name in ("int", "float", "port"):
        number_types = (int,) if name in ("int", "port") else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            return False
        low, _, high = bounds.rstrip(")").partition(",")
        return (not low or value >= float(low)) and (not high or value <= float(high))
    if name == "list":
        return value in bounds.rstrip(")").split("|")
    return isinstance(value, str)


def test_every_option_has_a_type_and_a_default_of_that_type(config: Dict[str, Any]) -> None:
    options, schema = config["options"], config["schema"]
    assert set(options) <= set(schema), "an option without a schema entry"
    for key, kind in schema.items():
        if not kind.endswith("?"):
            assert key in options, f"required option {key} has no default"
        if key in options:
            assert _option_matches(kind, options[key]), (key, kind, options[key])
    translations = _yaml(ADDON / "translations" / "en.yaml")
    assert set(translations["configuration"]) == set(schema)
    assert set(translations["network"]) == set(config["ports"])


def test_the_images_are_png_of_the_documented_sizes() -> None:
    for name, size in (("icon.png", (128, 128)), ("logo.png", (250, 100))):
        header = (ADDON / name).read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", name
        assert struct.unpack(">II", header[16:24]) == size, name


# What bashio would answer, from environment variables: enough to run run.sh outside an add-on
# and read the command line it builds.
BASHIO = r"""
bashio::config() { local v="OPT_$1"; printf '%s' "${!v-}"; }
bashio::config.has_value() { local v="OPT_$1"; [ -n "${!v-}" ]; }
bashio::config.true() { [ "$(bashio::config "$1")" = true ]; }
bashio::config.false() { [ "$(bashio::config "$1")" = false ]; }
bashio::log.info() { :; }
"""


def _run_script_arguments(options: Dict[str, Any], launch_as: str = "printf '%s\\n'") -> List[str]:
    """The server's command line that run.sh builds from `options`; or what `launch_as`
    prints, run in its place."""
    script = (ADDON / "run.sh").read_text(encoding="utf-8")
    launch = "exec /opt/polytts/bin/wyoming-polytts"
    assert script.count(launch) == 1
    script = script.replace(launch, launch_as)
    env = {f"OPT_{key}": str(value).lower() if isinstance(value, bool) else str(value)
           for key, value in options.items()}  # fmt: skip
    done = subprocess.run(
        ["bash", "-c", BASHIO + script],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.splitlines()


def test_the_run_script_starts_the_server_as_the_add_on_is_declared(
    config: Dict[str, Any],
) -> None:
    subprocess.run(["bash", "-n", str(ADDON / "run.sh")], check=True)
    defaults = parse_settings(_run_script_arguments(config["options"]))
    assert defaults.uri == "tcp://0.0.0.0:10200" and "[PORT:10200]" in config["watchdog"]
    assert defaults.http_uri == f"http://0.0.0.0:{config['ingress_port']}"
    assert f"{config['ingress_port']}/tcp" in config["ports"]
    assert defaults.ingress_proxies == ("172.30.32.2",)  # the Supervisor's ingress proxy
    assert defaults.supervisor_url == SUPERVISOR_URL and defaults.zeroconf_name is None
    assert str(defaults.data_dir) == "/data"
    assert (defaults.voice, defaults.download, defaults.zipvoice) == (None, True, True)

    changed = {
        **config["options"],
        "voice": "af_heart",
        "speed": 1.25,
        "download_models": False,
        "voice_clones": False,
        "speech_recognition": False,
        "first_clause": True,
        "zipvoice_model": "/share/zipvoice",
        "private_metrics": True,
        "debug_logging": True,
    }
    assert set(changed) | {"admin_token", "api_key"} == set(config["schema"])
    settings = parse_settings(_run_script_arguments(changed))
    assert (settings.voice, settings.speed, settings.download) == ("af_heart", 1.25, False)
    assert (settings.zipvoice, settings.transcriber, settings.whole_sentences) == (
        False,
        False,
        False,
    )
    assert str(settings.zipvoice_model) == "/share/zipvoice" and settings.debug
    assert settings.metrics_private and not defaults.metrics_private


def test_the_token_and_api_keys_reach_the_server_by_its_environment(
    config: Dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {**config["options"], "admin_token": "the-token", "api_key": "key-1, key-2"}
    arguments = _run_script_arguments(options)
    assert not any("the-token" in arg or "key-1" in arg for arg in arguments)  # not in `ps`
    printed = _run_script_arguments(options, "env #")
    environment = dict(line.partition("=")[::2] for line in printed if "=" in line)
    for name in ("POLYTTS_ADMIN_TOKEN", "POLYTTS_API_KEYS"):
        monkeypatch.setenv(name, environment[name])
    settings = parse_settings(arguments)
    assert settings.admin_token == "the-token" and settings.api_keys == ("key-1", "key-2")
    for name in ("POLYTTS_ADMIN_TOKEN", "POLYTTS_API_KEYS"):
        monkeypatch.delenv(name)
    unset = _run_script_arguments(config["options"], "env #")
    assert not any(line.startswith("POLYTTS_") for line in unset)


async def test_the_server_announces_itself_to_the_supervisor(
    config: Dict[str, Any], data_dir: Path, tmp_path: Path
) -> None:
    """Against a stand-in for the Supervisor's discovery API on 127.0.0.1, answering as the
    Supervisor documents it: the message arrives once the Wyoming port is open."""
    token = "supervisor-test-token"
    received: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()

    async def discovery(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"result": "error", "message": "unauthorized"}, status=401)
        body = await request.json()
        if set(body) != {"service", "config"} or body["service"] not in config["discovery"]:
            return web.json_response({"result": "error", "message": "bad message"}, status=400)
        port = int(body["config"]["uri"].rsplit(":", 1)[1])
        await asyncio.open_connection("127.0.0.1", port)  # it is listening already
        await received.put(body)
        return web.json_response({"result": "ok", "data": {"uuid": uuid.uuid4().hex}})

    app = web.Application()
    app.router.add_post("/discovery", discovery)
    async with TestServer(app, host="127.0.0.1") as supervisor:
        server = await asyncio.to_thread(
            start_server,
            data_dir,
            tmp_path / "server.log",
            ["--no-download", "--no-zipvoice", "--no-transcriber", "--no-http",
             "--supervisor-discovery", str(supervisor.make_url("")).rstrip("/")],
            env={"SUPERVISOR_TOKEN": token},
        )  # fmt: skip
        try:
            message = await asyncio.wait_for(received.get(), 60)
            assert message["config"] == {"uri": f"tcp://{socket.gethostname()}:{server.port}"}
            async with server.client() as client:
                assert (await describe(client)).tts[0].name == "wyoming-polytts"
        finally:
            server.stop()
    assert received.empty()  # announced once


async def test_a_refused_announcement_is_retried_then_reported() -> None:
    calls: List[str] = []

    async def refuse(request: web.Request) -> web.Response:
        calls.append((await request.json())["service"])
        return web.json_response({"result": "error", "message": "not listed"}, status=403)

    app = web.Application()
    app.router.add_post("/discovery", refuse)
    async with TestServer(app, host="127.0.0.1") as supervisor:
        url = str(supervisor.make_url("")).rstrip("/")
        with pytest.raises(RuntimeError, match="HTTP 403"):
            await addon.announce(url, "token", 10200, "polytts", retry_seconds=0.01)
    assert calls == ["wyoming"] * addon.ATTEMPTS
