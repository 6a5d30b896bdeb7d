"""A Triton model repository for Kokoro's parts (`wyoming-polytts triton-repository DIR`).

Each part of the split model (`kokoro.split`: front, source, framerate, generator) becomes a
model `kokoro_<part>` with its ONNX file as version 1 and a `config.pbtxt` generated from the
graph's inputs and outputs (the generator has about 190 of each: its statistics). Two kinds:

- `onnxruntime`: for GPU servers (NVIDIA's `tritonserver` container): the onnxruntime
  backend, `KIND_GPU` instances, optionally TensorRT as its execution accelerator;
- `python`: for CPU-only servers without that backend (the `tritonserver` bundled with
  `nvidia-pytriton`): a python-backend `model.py` that runs the ONNX file with onnxruntime.

The parts' folder name (the model's hash) is kept in every config as `polytts_parts`: a
front speaks only through a repository made from its own model.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..kokoro.split import GIVEN_PREFIX, PART_NAMES, ModelParts

_LOGGER = logging.getLogger(__name__)

MODEL_PREFIX = "kokoro_"
PARTS_PARAMETER = "polytts_parts"
BACKENDS = ("onnxruntime", "python")
_BACKEND_MODEL = Path(__file__).with_name("backend_model.py")
# ONNX element type -> (Triton config type, Triton wire type, onnxruntime type string)
_TYPES: Dict[int, Tuple[str, str, str]] = {
    1: ("TYPE_FP32", "FP32", "tensor(float)"),
    2: ("TYPE_UINT8", "UINT8", "tensor(uint8)"),
    3: ("TYPE_INT8", "INT8", "tensor(int8)"),
    6: ("TYPE_INT32", "INT32", "tensor(int32)"),
    7: ("TYPE_INT64", "INT64", "tensor(int64)"),
    9: ("TYPE_BOOL", "BOOL", "tensor(bool)"),
    10: ("TYPE_FP16", "FP16", "tensor(float16)"),
    11: ("TYPE_FP64", "FP64", "tensor(double)"),
}


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a part, as onnxruntime's `NodeArg` describes it (`name`,
    `shape` with -1 for a free dimension, `type` such as `tensor(float)`), and its Triton
    types."""

    name: str
    shape: Tuple[int, ...]
    type: str
    config_type: str
    wire_type: str


@dataclass(frozen=True)
class PartIO:
    """A part's inputs and outputs, in the graph's order."""

    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]


def model_name(part: str) -> str:
    """The Triton model that serves `part` (`front`, `source`, `framerate`, `generator`)."""
    return MODEL_PREFIX + part


def part_io(path: Path) -> PartIO:
    """The inputs and outputs of the ONNX part at `path` (its weights are not read). An
    output of unknown rank (a generator statistic) has the shape of its `given:` input."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def info(value: object, fallback: Optional[Tuple[int, ...]] = None) -> TensorInfo:
        tensor = value.type.tensor_type  # type: ignore[attr-defined]
        name = value.name  # type: ignore[attr-defined]
        if tensor.elem_type not in _TYPES:
            raise ValueError(f"{path.name}: {name} has an element type Triton is not given")
        if tensor.HasField("shape"):
            shape = tuple(
                dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim
            )
        elif fallback is not None:
            shape = fallback
        else:
            raise ValueError(f"{path.name}: {name} has no known rank")
        config_type, wire_type, type_name = _TYPES[tensor.elem_type]
        return TensorInfo(name, shape, type_name, config_type, wire_type)

    inputs = tuple(info(value) for value in graph.input)
    given = {item.name[len(GIVEN_PREFIX) :]: item.shape for item in inputs}
    outputs = tuple(info(value, given.get(value.name)) for value in graph.output)
    return PartIO(inputs, outputs)


def _tensor_config(tensor: TensorInfo, reshape_scalars: bool) -> str:
    if tensor.shape:
        return (
            f'  {{ name: "{tensor.name}" data_type: {tensor.config_type} '
            f"dims: [ {', '.join(str(dim) for dim in tensor.shape)} ] }}"
        )
    # A scalar travels as [1]; the onnxruntime backend is told to hand it on as a scalar,
    # the python-backend model reshapes it itself.
    reshape = " reshape: { shape: [ ] }" if reshape_scalars else ""
    return f'  {{ name: "{tensor.name}" data_type: {tensor.config_type} dims: [ 1 ]{reshape} }}'


def model_config(
    name: str,
    io: PartIO,
    backend: str,
    parts_id: str,
    instances: int = 1,
    threads: int = 0,
    tensorrt: bool = False,
) -> str:
    """The `config.pbtxt` of one part. The parts are graphs of batch 1 (`max_batch_size: 0`):
    answers run side by side on `instances` model instances instead."""
    gpu = backend == "onnxruntime"
    lines = [
        f'name: "{name}"',
        f'backend: "{backend}"',
        "max_batch_size: 0",
        "input [",
        ",\n".join(_tensor_config(tensor, gpu) for tensor in io.inputs),
        "]",
        "output [",
        ",\n".join(_tensor_config(tensor, gpu) for tensor in io.outputs),
        "]",
        f"instance_group [ {{ count: {instances} kind: {'KIND_GPU' if gpu else 'KIND_CPU'} }} ]",
        f'parameters {{ key: "{PARTS_PARAMETER}" value: {{ string_value: "{parts_id}" }} }}',
    ]
    if threads:
        lines.append(
            f'parameters {{ key: "intra_op_threads" value: {{ string_value: "{threads}" }} }}'
        )
    if gpu and tensorrt:
        lines.append(
            "optimization { execution_accelerators { gpu_execution_accelerator: [ "
            '{ name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ] } }'
        )
    return "\n".join(lines) + "\n"


def write_repository(
    parts: ModelParts,
    folder: Path,
    backend: str = "python",
    instances: int = 1,
    threads: int = 0,
    tensorrt: bool = False,
) -> List[str]:
    """Write the models of `parts` into the repository `folder` (models already there are
    replaced); returns their names."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
    parts_id = parts_identity(parts)
    names = []
    for part in PART_NAMES:
        source: Path = getattr(parts, part)
        name = model_name(part)
        model_dir = folder / name
        version = model_dir / "1"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        version.mkdir(parents=True)
        shutil.copyfile(source, version / "model.onnx")
        if backend == "python":
            shutil.copyfile(_BACKEND_MODEL, version / "model.py")
        config = model_config(
            name, part_io(source), backend, parts_id, instances, threads, tensorrt
        )
        (model_dir / "config.pbtxt").write_text(config, encoding="utf-8")
        names.append(name)
    _LOGGER.info("Wrote %s (%s backend) into %s", ", ".join(names), backend, folder)
    return names


def parts_identity(parts: ModelParts) -> str:
    """What names a model's parts: their folder's name (the model's hash and split version)."""
    return Path(parts.front).parent.name


def build_parser() -> argparse.ArgumentParser:
    """The command line of `wyoming-polytts triton-repository`."""
    parser = argparse.ArgumentParser(
        prog="wyoming-polytts triton-repository",
        description="Write a Triton Inference Server model repository for Kokoro's parts.",
    )
    parser.add_argument("folder", type=Path, help="the repository to write (made if missing)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="onnxruntime",
        help="onnxruntime for NVIDIA's GPU containers (default), python for CPU-only "
        "servers without the onnxruntime backend (nvidia-pytriton's tritonserver)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="model instances of each part: answers decoded side by side (default: 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="onnxruntime threads of each python-backend instance (default: its own choice)",
    )
    parser.add_argument(
        "--tensorrt",
        action="store_true",
        help="onnxruntime backend: TensorRT (FP16) as its GPU execution accelerator",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="as for the server")
    parser.add_argument("--kokoro-model", type=Path, help="as for the server")
    parser.add_argument(
        "--kokoro-precision",
        choices=("fp32", "fp16", "int8"),
        default="int8",
        help="as for the server",
    )
    parser.add_argument("--no-download", action="store_true", help="as for the server")
    parser.add_argument("--debug", action="store_true", help="log debug messages")
    return parser


def main(argv: Sequence[str]) -> None:
    """`wyoming-polytts triton-repository DIR`: split the server's Kokoro model (once, as
    the server does) and write the repository."""
    from ...models import resolve_kokoro
    from ..kokoro.split import split_model

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    model = args.kokoro_model  # the voice packs are not needed here
    if model is None:
        model = resolve_kokoro(
            args.data_dir,
            precision=args.kokoro_precision,
            download=not args.no_download,
        ).model
    parts = split_model(model, args.data_dir / "kokoro" / "parts")
    write_repository(parts, args.folder, args.backend, args.instances, args.threads, args.tensorrt)
