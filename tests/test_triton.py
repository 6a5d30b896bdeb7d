"""Kokoro on Triton without a Triton server: the repository writer, the choice of servers,
failures and the session interface (fake gRPC clients)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from wyoming_polytts.engines.base import SynthesisError
from wyoming_polytts.engines.kokoro.split import ModelParts
from wyoming_polytts.engines.triton import client as triton_client
from wyoming_polytts.engines.triton.client import (
    RemoteSession,
    TritonError,
    TritonServers,
    parse_triton_url,
)
from wyoming_polytts.engines.triton.repository import (
    PARTS_PARAMETER,
    model_name,
    part_io,
    write_repository,
)
from wyoming_polytts.settings import parse_settings

try:
    import tritonclient.grpc  # noqa: F401
except ImportError:
    if os.environ.get("POLYTTS_REQUIRE_TRITON") == "1":
        raise
    pytest.skip("needs tritonclient (the [triton] extra)", allow_module_level=True)


def _part(path: Path) -> Path:
    """A tiny part shaped like the generator: a float tensor, a bool scalar, a `given:`
    scalar, and outputs of which one has no rank in the graph (as the statistics have)."""
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["x"], ["audio"]),
            helper.make_node("ReduceMax", ["x"], ["peak:computed"], keepdims=0),
            helper.make_node("Where", ["stats_given", "given:peak", "peak:computed"], ["peak"]),
        ],
        "part",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"]),
            helper.make_tensor_value_info("stats_given", TensorProto.BOOL, []),
            helper.make_tensor_value_info("given:peak", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "n"]),
            helper.make_tensor_value_info("peak", TensorProto.FLOAT, None),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def test_part_io_reads_shapes_and_gives_unranked_outputs_their_given_shape(
    tmp_path: Path,
) -> None:
    io = part_io(_part(tmp_path / "part.onnx"))
    assert [(t.name, t.shape, t.type, t.wire_type) for t in io.inputs] == [
        ("x", (1, -1), "tensor(float)", "FP32"),
        ("stats_given", (), "tensor(bool)", "BOOL"),
        ("given:peak", (), "tensor(float)", "FP32"),
    ]
    assert [(t.name, t.shape) for t in io.outputs] == [("audio", (1, -1)), ("peak", ())]


@pytest.mark.parametrize("backend", ["python", "onnxruntime"])
def test_repository_has_a_model_per_part(tmp_path: Path, backend: str) -> None:
    folder = tmp_path / "parts" / "0123456789abcdef-v1"
    parts = ModelParts(*(_part(folder / f"{name}.onnx") for name in ("a", "b", "c", "d")))
    repository = tmp_path / "repository"
    names = write_repository(parts, repository, backend, instances=2, threads=3)
    assert names == [model_name(part) for part in ("front", "source", "framerate", "generator")]
    for name in names:
        version = repository / name / "1"
        assert (version / "model.onnx").read_bytes() == parts.front.read_bytes()
        assert (version / "model.py").is_file() == (backend == "python")
        config = (repository / name / "config.pbtxt").read_text(encoding="utf-8")
        assert f'name: "{name}"' in config and f'backend: "{backend}"' in config
        assert "max_batch_size: 0" in config
        assert (
            f'key: "{PARTS_PARAMETER}" value: {{ string_value: "0123456789abcdef-v1" }}' in config
        )
        assert '{ name: "x" data_type: TYPE_FP32 dims: [ 1, -1 ] }' in config
        kind = "KIND_GPU" if backend == "onnxruntime" else "KIND_CPU"
        assert f"instance_group [ {{ count: 2 kind: {kind} }} ]" in config
        scalar = '{ name: "stats_given" data_type: TYPE_BOOL dims: [ 1 ]'
        if backend == "onnxruntime":  # the backend hands a scalar on as one
            assert scalar + " reshape: { shape: [ ] } }" in config
        else:
            assert scalar + " }" in config
    # written again: replaced, not added to
    write_repository(parts, repository, backend)
    assert sorted(path.name for path in repository.iterdir()) == sorted(names)


def test_triton_option_is_repeatable_and_checked() -> None:
    settings = parse_settings(["--triton", "grpc://a:8001", "--triton", "grpc://[::1]:8001"])
    assert settings.triton == ("grpc://a:8001", "grpc://[::1]:8001")
    assert parse_settings([]).triton == ()
    with pytest.raises(SystemExit):
        parse_settings(["--triton", "http://a:8000"])
    assert parse_triton_url("grpc://[::1]:8001") == "[::1]:8001"
    with pytest.raises(ValueError):
        parse_triton_url("grpc://host")


class _Result:
    def __init__(self, outputs: Dict[str, np.ndarray]) -> None:
        self._outputs = outputs

    def as_numpy(self, name: str) -> np.ndarray:
        return self._outputs[name]


class _FakeClient:
    """A gRPC client of one fake server: answers `infer` with the sum of its inputs, or
    fails while `down`; `gate` holds its calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.calls: List[Dict[str, np.ndarray]] = []
        self.gate: Optional[threading.Event] = None
        self.entered = threading.Event()
        self.ready = True
        self.parts = "parts-v1"

    def infer(self, model: str, inputs: Sequence[Any], outputs: Any, client_timeout: float) -> Any:
        assert client_timeout > 0
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        values = {item.name(): _array(item) for item in inputs}
        self.calls.append(values)
        x = values["x"]
        return _Result({"audio": x + 1, "peak": np.array([x.max()], np.float32)})

    def is_server_live(self, client_timeout: float) -> bool:
        if self.down:
            raise ConnectionError("connection refused")
        return True

    def is_model_ready(self, model: str, client_timeout: float) -> bool:
        return self.ready

    def get_model_config(self, model: str, as_json: bool, client_timeout: float) -> Any:
        return {"config": {"parameters": {PARTS_PARAMETER: {"string_value": self.parts}}}}

    def close(self) -> None:
        pass


def _array(item: Any) -> np.ndarray:
    """What a tritonclient `InferInput` carries, back as an array."""
    from tritonclient.utils import triton_to_np_dtype

    raw = item._get_content()
    dtype = triton_to_np_dtype(item.datatype())
    return np.frombuffer(raw, dtype=dtype).reshape(item.shape())


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Dict[str, _FakeClient]:
    clients = {"a": _FakeClient("a"), "b": _FakeClient("b")}
    monkeypatch.setattr(
        TritonServers, "_client", lambda self, server: clients[server.address.split(":")[0]]
    )
    return clients


def _session(tmp_path: Path, urls: Sequence[str]) -> RemoteSession:
    servers = TritonServers(urls, call_seconds=5, cool_off_seconds=60)
    return RemoteSession(servers, _part(tmp_path / "part.onnx"), "kokoro_generator")


def _feeds(value: float = 1.0) -> Dict[str, np.ndarray]:
    return {
        "x": np.full((1, 3), value, np.float32),
        "stats_given": np.array(False),
        "given:peak": np.array(0.0, np.float32),
    }


def test_session_runs_like_onnxruntime(tmp_path: Path, fakes: Dict[str, _FakeClient]) -> None:
    session = _session(tmp_path, ["grpc://a:1"])
    assert [item.name for item in session.get_inputs()] == ["x", "stats_given", "given:peak"]
    audio, peak = session.run(None, _feeds(2.0), object())  # run options: ignored
    assert np.array_equal(audio, np.full((1, 3), 3.0, np.float32))
    assert peak.shape == () and float(peak) == 2.0  # a scalar again, as onnxruntime gives it
    sent = fakes["a"].calls[0]
    assert sent["stats_given"].shape == (1,) and sent["given:peak"].shape == (1,)  # as [1]
    (only,) = session.run(["peak"], _feeds())
    assert only.shape == ()


def test_least_busy_server_first(tmp_path: Path, fakes: Dict[str, _FakeClient]) -> None:
    session = _session(tmp_path, ["grpc://a:1", "grpc://b:2"])
    fakes["a"].gate = threading.Event()
    first = threading.Thread(target=session.run, args=(None, _feeds()))
    first.start()
    assert fakes["a"].entered.wait(5)
    session.run(None, _feeds())  # a has a call in flight: b takes this one
    assert len(fakes["b"].calls) == 1
    fakes["a"].gate.set()
    first.join(5)
    assert len(fakes["a"].calls) == 1
    session.run(None, _feeds())  # both idle: the first listed
    assert len(fakes["a"].calls) == 2


def test_a_failing_server_is_passed_over_and_the_call_made_on_another(
    tmp_path: Path, fakes: Dict[str, _FakeClient]
) -> None:
    session = _session(tmp_path, ["grpc://a:1", "grpc://b:2"])
    fakes["a"].down = True
    audio, _ = session.run(None, _feeds())
    assert float(audio[0, 0]) == 2.0 and len(fakes["b"].calls) == 1
    fakes["a"].down = False
    fakes["a"].entered.clear()
    session.run(None, _feeds())  # a cools off: b first, a not even asked
    assert len(fakes["b"].calls) == 2 and not fakes["a"].entered.is_set()


def test_no_server_answers_raises_a_synthesis_error(
    tmp_path: Path, fakes: Dict[str, _FakeClient]
) -> None:
    session = _session(tmp_path, ["grpc://a:1", "grpc://b:2"])
    fakes["a"].down = fakes["b"].down = True
    with pytest.raises(TritonError) as raised:
        session.run(None, _feeds())
    assert isinstance(raised.value, SynthesisError)
    assert "grpc://a:1" in str(raised.value) and "grpc://b:2" in str(raised.value)


def test_the_only_server_is_tried_again_once_back(
    tmp_path: Path, fakes: Dict[str, _FakeClient]
) -> None:
    session = _session(tmp_path, ["grpc://a:1"])
    fakes["a"].down = True
    with pytest.raises(TritonError):
        session.run(None, _feeds())
    fakes["a"].down = False  # restarted: the next call works though a still cools off
    audio, _ = session.run(None, _feeds())
    assert audio.shape == (1, 3)


def test_problem_says_why_no_server_can_speak(fakes: Dict[str, _FakeClient]) -> None:
    servers = TritonServers(["grpc://a:1", "grpc://b:2"])
    models = ["kokoro_front"]
    assert servers.problem(models, "parts-v1") is None
    fakes["a"].down = True
    assert servers.problem(models, "parts-v1") is None  # b can
    fakes["b"].ready = False
    problem = servers.problem(models, "parts-v1")
    assert problem is not None
    assert "grpc://a:1: connection refused" in problem
    assert "kokoro_front is not ready" in problem
    fakes["b"].ready = True
    fakes["b"].parts = "other-v1"
    problem = servers.problem(models, "parts-v1")
    assert problem is not None and "other Kokoro parts" in problem


def test_reason_is_one_line() -> None:
    assert triton_client._reason(ConnectionError("refused\nmore")) == "refused"
