"""Start the server in a subprocess as users start it (for tests and the benchmark)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple, Union, cast

from wyoming.client import AsyncClient, AsyncTcpClient
from wyoming.event import read_event, write_event
from wyoming.info import Describe, Info


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A `python -m wyoming_polytts` process and how to reach it."""

    process: subprocess.Popen
    uri: str
    log_path: Path
    port: Optional[int] = None
    http_url: Optional[str] = None  # the admin page, when it runs

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self) -> AsyncClient:
        assert self.port is not None
        return AsyncTcpClient("127.0.0.1", self.port)

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory so far (Linux `VmHWM`)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(kib) / 1024

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def server_command(uri: str, data_dir: Path, extra_args: Sequence[str] = ()) -> List[str]:
    """The command line that starts the server, as `script/run` does (with debug logs)."""
    return [
        sys.executable,
        "-m",
        "wyoming_polytts",
        "--uri",
        uri,
        "--data-dir",
        str(data_dir),
        "--debug",
        *extra_args,
    ]


def start_server(
    data_dir: Path,
    log_path: Path,
    extra_args: Sequence[str] = (),
    uri: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
) -> RunningServer:
    """Start the server in a subprocess, as `script/run` does, and wait for `describe`.

    Everything listens on 127.0.0.1 only: the admin page gets a free port of its own
    unless `extra_args` choose `--http-uri` or `--no-http`.
    """
    port = None
    if uri is None:
        port = free_port()
        uri = f"tcp://127.0.0.1:{port}"
    http_url = None
    if "--no-http" not in extra_args and "--http-uri" not in extra_args:
        http_url = f"http://127.0.0.1:{free_port()}"
        extra_args = ["--http-uri", http_url, *extra_args]
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        server_command(uri, data_dir, extra_args),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    server = RunningServer(
        process=process, uri=uri, log_path=log_path, port=port, http_url=http_url
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        if "Listening on" in server.log() and _answers_describe(uri):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server did not start:\n{server.log()}")


def _answers_describe(uri: str) -> bool:
    """Whether the server answers `describe` (a port that only accepts connections may not
    yet be served: the server could not yet have set up its stop signal, for one)."""
    address: Union[str, Tuple[str, int]]
    if uri.startswith("unix://"):
        family, address = socket.AF_UNIX, uri[len("unix://") :]
    else:
        family, address = socket.AF_INET, ("127.0.0.1", int(uri.rsplit(":", 1)[1]))
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(address)
            with sock.makefile("rwb") as stream:
                binary = cast(BinaryIO, stream)
                write_event(Describe().event(), binary)
                binary.flush()
                event = read_event(binary)
    except OSError:
        return False
    return event is not None and Info.is_type(event.type)
