"""Kokoro's parts called on Triton Inference Server over gRPC (`tritonclient`).

`TritonServers` holds the servers of `--triton` (one or more): a call goes to the server with
the fewest calls in flight; a server whose call fails is passed over for
`TRITON_COOL_OFF_SECONDS` (tried anyway when every server is), and the call is made once more
on another server where one is listed: the parts are pure functions, so a repeated call gives
the same samples. A call that no server answers raises `TritonError` (a `SynthesisError`: the
answer ends with an error, the next one tries again).

`RemoteSession` is a part on Triton with the interface of an onnxruntime session (`run`,
`get_inputs`, `get_outputs`), so the windowed decoder (`kokoro.stream`) runs on it unchanged.
A remote call cannot be aborted: one that an urgent call preempts (`preemption`) or an answer
interrupts (`kokoro.prepare`) runs to its end on the server.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence
from urllib.parse import urlparse

import numpy as np

from ...settings import (
    TRITON_CALL_SECONDS,
    TRITON_COOL_OFF_SECONDS,
    TRITON_PROBE_SECONDS,
    TRITON_TRIES,
)
from ..base import SynthesisError
from .repository import PARTS_PARAMETER, PartIO, TensorInfo, part_io

_LOGGER = logging.getLogger(__name__)

# Reconnect soon after a server restarts (gRPC's default backoff grows to two minutes). Each
# client gets its own connection: gRPC otherwise shares one per address between clients, and
# the new client made after a failure would inherit its reconnect backoff, failing at once for
# up to a second after the server is back.
_CHANNEL_ARGS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class TritonError(SynthesisError):
    """No Triton server answered a call (or the one that did refused it)."""


def parse_triton_url(value: str) -> str:
    """`grpc://HOST:PORT` as `HOST:PORT` (what tritonclient connects to); ValueError else."""
    parsed = urlparse(value)
    if parsed.scheme != "grpc" or not parsed.hostname or parsed.port is None:
        raise ValueError(f"a Triton server is given as grpc://HOST:PORT, not {value!r}")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{host}:{parsed.port}"


@dataclass
class _Server:
    """One Triton server and how it fares."""

    url: str  # as given: grpc://HOST:PORT
    address: str  # HOST:PORT
    index: int
    in_flight: int = 0
    down_until: float = 0.0  # passed over until then (`time.monotonic`)
    generation: int = 0  # bumped by a failure: each thread makes a new client
    clients: threading.local = field(default_factory=threading.local)


class TritonServers:
    """The Triton servers of `--triton`, least busy first."""

    def __init__(
        self,
        urls: Sequence[str],
        call_seconds: float = TRITON_CALL_SECONDS,
        cool_off_seconds: float = TRITON_COOL_OFF_SECONDS,
    ) -> None:
        if not urls:
            raise ValueError("no Triton server given")
        self._servers = [
            _Server(url, parse_triton_url(url), index) for index, url in enumerate(urls)
        ]
        self._call_seconds = call_seconds
        self._cool_off_seconds = cool_off_seconds
        self._lock = threading.Lock()

    @property
    def urls(self) -> List[str]:
        return [server.url for server in self._servers]

    def describe(self) -> str:
        return ", ".join(self.urls)

    def _client(self, server: _Server) -> Any:
        """This thread's client of `server` (tritonclient's is not shared between threads)."""
        import tritonclient.grpc as grpcclient

        local = server.clients
        if getattr(local, "generation", -1) != server.generation:
            old = getattr(local, "client", None)
            if old is not None:
                try:
                    old.close()
                except Exception:  # noqa: BLE001 - a broken channel closes as it can
                    _LOGGER.debug("Closing the client of %s failed", server.url, exc_info=True)
            local.client = grpcclient.InferenceServerClient(
                server.address, channel_args=_CHANNEL_ARGS
            )
            local.generation = server.generation
        return local.client

    def _order(self) -> List[_Server]:
        """Servers to try: those not passed over, fewest calls in flight first; then those
        passed over, the soonest back first (tried anyway: one may be back already)."""
        now = time.monotonic()
        with self._lock:
            up = [server for server in self._servers if server.down_until <= now]
            down = [server for server in self._servers if server.down_until > now]
            up.sort(key=lambda server: (server.in_flight, server.index))
            down.sort(key=lambda server: server.down_until)
            return up + down

    def _failed(self, server: _Server, error: BaseException) -> None:
        with self._lock:
            server.down_until = time.monotonic() + self._cool_off_seconds
            server.generation += 1
        _LOGGER.warning("Triton at %s failed a call: %s", server.url, _reason(error))

    def infer(
        self,
        model: str,
        feeds: Mapping[str, np.ndarray],
        inputs: Sequence[TensorInfo],
        outputs: Sequence[TensorInfo],
    ) -> List[np.ndarray]:
        """Run `model` on `feeds` (every one of `inputs`) and return `outputs`, on the least
        busy server, once more on another where the first fails; `TritonError` when none
        answers."""
        import tritonclient.grpc as grpcclient

        requests = []
        for tensor in inputs:
            value = np.ascontiguousarray(feeds[tensor.name])
            if value.ndim == 0:
                value = value.reshape(1)  # a scalar travels as [1] (`repository`)
            request = grpcclient.InferInput(tensor.name, list(value.shape), tensor.wire_type)
            request.set_data_from_numpy(value)
            requests.append(request)
        wanted = [grpcclient.InferRequestedOutput(tensor.name) for tensor in outputs]
        failures = []
        for server in self._order()[:TRITON_TRIES]:
            with self._lock:
                server.in_flight += 1
            try:
                result = self._client(server).infer(
                    model, requests, outputs=wanted, client_timeout=self._call_seconds
                )
            except Exception as error:  # noqa: BLE001 - gRPC and Triton errors alike
                self._failed(server, error)
                failures.append(f"{server.url}: {_reason(error)}")
                continue
            finally:
                with self._lock:
                    server.in_flight -= 1
            arrays = []
            for tensor in outputs:
                value = np.array(result.as_numpy(tensor.name))
                arrays.append(value.reshape(()) if not tensor.shape else value)
            return arrays
        raise TritonError(f"Kokoro on Triton failed ({model}): {'; '.join(failures)}")

    def problem(self, models: Sequence[str], parts_id: str) -> Optional[str]:
        """Why no server can run `models` made from the parts `parts_id` (None: one can)."""
        problems = []
        for server in self._servers:
            reason = self._server_problem(server, models, parts_id)
            if reason is None:
                return None
            problems.append(f"{server.url}: {reason}")
        return "; ".join(problems)

    def _server_problem(
        self, server: _Server, models: Sequence[str], parts_id: str
    ) -> Optional[str]:
        timeout = TRITON_PROBE_SECONDS
        try:
            client = self._client(server)
            if not client.is_server_live(client_timeout=timeout):
                return "not live"
            for model in models:
                if not client.is_model_ready(model, client_timeout=timeout):
                    return f"model {model} is not ready (is the repository loaded?)"
                config = client.get_model_config(model, as_json=True, client_timeout=timeout)
                served = (
                    config.get("config", {})
                    .get("parameters", {})
                    .get(PARTS_PARAMETER, {})
                    .get("string_value")
                )
                if served != parts_id:
                    return (
                        f"model {model} was made from other Kokoro parts ({served}, this "
                        f"server's are {parts_id}): write the repository again"
                    )
        except Exception as error:  # noqa: BLE001 - unreachable, refused, timed out
            with self._lock:
                server.generation += 1
            return _reason(error)
        with self._lock:
            server.down_until = 0.0
        return None


def _reason(error: BaseException) -> str:
    """A Triton or gRPC error in one line."""
    message = getattr(error, "message", None)
    text = message() if callable(message) else str(error)
    status = getattr(error, "status", None)
    code = status() if callable(status) else None
    first = (text or type(error).__name__).strip().splitlines()[0] if text else type(error).__name__
    return f"{code}: {first}" if code else first


class RemoteSession:
    """A Kokoro part on Triton, called like an onnxruntime session."""

    def __init__(self, servers: TritonServers, path: Path, model: str) -> None:
        """`path`: the part's ONNX file here (its inputs and outputs are read from it)."""
        self._servers = servers
        self._model = model
        self._io: PartIO = part_io(path)
        self._outputs = {tensor.name: tensor for tensor in self._io.outputs}

    def get_inputs(self) -> List[TensorInfo]:
        return list(self._io.inputs)

    def get_outputs(self) -> List[TensorInfo]:
        return list(self._io.outputs)

    def get_providers(self) -> List[str]:
        return [f"Triton ({self._servers.describe()})"]

    def run(
        self,
        output_names: Optional[Sequence[str]],
        feeds: Mapping[str, Any],
        run_options: Any = None,
    ) -> List[np.ndarray]:
        """The outputs `output_names` (all with None) of the part on `feeds`. `run_options`
        is ignored: a remote call is never aborted."""
        del run_options
        outputs = (
            self._io.outputs
            if output_names is None
            else tuple(self._outputs[name] for name in output_names)
        )
        arrays = {name: np.asarray(value) for name, value in feeds.items()}
        return self._servers.infer(self._model, arrays, self._io.inputs, outputs)
