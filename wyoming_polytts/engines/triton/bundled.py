"""The `tritonserver` bundled with `nvidia-pytriton`, run on the CPU on 127.0.0.1: for the
tests (`tests/test_triton_e2e.py`) and the benchmark (`script/benchmark_triton.py`).

Its python backend runs the repository's `model.py` in a stub process that links libpython:
the stub for this interpreter's version is copied beside the backend, this interpreter's
library folder and the bundle's own libraries go on `LD_LIBRARY_PATH` (without the latter,
model loading hangs), and `PYTHONPATH` (which the model adds to its path: the stub does not
read it) holds numpy below 2, then this environment's site-packages (onnxruntime). The
stub of Triton 2.51 sends empty outputs with numpy 2 (nvidia-pytriton pins numpy below 2);
`script/setup` puts numpy 1 into `STUB_PACKAGES` for it. The server gets a process group of
its own, so that `kill` ends its stubs too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import List, Optional

START_SECONDS = 120.0
STUB_PACKAGES = Path(sys.prefix) / "triton-stub-packages"  # numpy<2 for the stub


def bundled_tritonserver() -> Optional[Path]:
    """The folder of the bundled server (`bin/tritonserver`, `backends/python`), if any."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    if not (folder / "bin" / "tritonserver").is_file() or not (STUB_PACKAGES / "numpy").is_dir():
        return None
    return folder


class Tritonserver:
    """One `tritonserver` on 127.0.0.1 serving `repository`; start, kill, start again."""

    def __init__(self, dist: Path, repository: Path, work: Path, grpc_port: int) -> None:
        self.grpc_port = grpc_port
        self.url = f"grpc://127.0.0.1:{grpc_port}"
        self._dist = dist
        self._repository = repository
        self._work = work
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._starts = 0
        self._shm_prefix = f"polytts_{os.getpid()}_{grpc_port}_"
        work.mkdir(parents=True, exist_ok=True)
        self._backends = work / "backends"
        python = self._backends / "python"
        if not python.exists():
            shutil.copytree(dist / "backends" / "python", python)
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
            shutil.copy(stub, python / "triton_python_backend_stub")

    def sibling(self, work: Path, grpc_port: int) -> Tritonserver:
        """Another server (not started) of the same repository."""
        return Tritonserver(self._dist, self._repository, work, grpc_port)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self._work / f"tritonserver-{self._starts}.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def command(self) -> List[str]:
        return [
            str(self._dist / "bin" / "tritonserver"),
            f"--model-repository={self._repository}",
            f"--backend-directory={self._backends}",
            f"--cache-directory={self._dist / 'caches'}",
            "--allow-http=false",
            "--allow-metrics=false",
            f"--grpc-port={self.grpc_port}",
            "--grpc-address=127.0.0.1",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
            "--log-verbose=0",
        ]

    def environment(self) -> dict:
        libs = self._dist.parent.parent / "nvidia_pytriton.libs"
        library_path = [str(libs), str(sysconfig.get_config_var("LIBDIR"))]
        if os.environ.get("LD_LIBRARY_PATH"):
            library_path.append(os.environ["LD_LIBRARY_PATH"])
        python_path = [str(STUB_PACKAGES), *site.getsitepackages()]
        if os.environ.get("PYTHONPATH"):
            python_path.append(os.environ["PYTHONPATH"])
        return {
            **os.environ,
            "LD_LIBRARY_PATH": ":".join(library_path),
            "PYTHONPATH": ":".join(python_path),
        }

    def start(self) -> None:
        """Start the server and wait until every model is ready."""
        import tritonclient.grpc as grpcclient

        self._starts += 1
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self._process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            start_new_session=True,
        )
        deadline = time.monotonic() + START_SECONDS
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{self.grpc_port}")
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"tritonserver exited:\n{self.log()}")
                with contextlib.suppress(Exception):
                    if client.is_server_ready(client_timeout=1.0):
                        return
                time.sleep(0.2)
        finally:
            client.close()
        self.kill()
        raise RuntimeError(f"tritonserver did not start:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the server and its python stubs (its process group), as a crash would."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self._remove_shm()

    def stop(self) -> None:
        """Stop the server as asked (SIGTERM), else kill it."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        self.kill()

    def _remove_shm(self) -> None:
        """The python backend's shared memory regions this server left behind."""
        for path in Path("/dev/shm").glob(f"{self._shm_prefix}*"):
            with contextlib.suppress(OSError):
                path.unlink()
