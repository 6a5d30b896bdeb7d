"""Kokoro's ONNX graph cut into the parts that a windowed decoder needs.

The whole model is `tokens, style, speed -> audio`. Cut at four tensors it becomes:

- front: `tokens, style, speed -> features, F0, energy, durations` (text encoder, durations,
  prosody; cheap, run once per sentence);
- source: `F0 -> harmonic source` (the sine excitation; its phase is integrated over the whole
  sentence, so it is made once and sliced);
- frame-rate decoder: `features, F0, energy, style -> generator input` (the decoder's
  frame-rate blocks, about a tenth of the decode, run once per sentence so its instance norms
  see the whole sentence);
- generator: `generator input, style, harmonic source -> audio` (the vocoder, nine tenths
  of the time), rewritten so that the statistics that make a window differ from the whole
  sentence can be handed in: every instance norm's mean and variance, and every dynamic
  activation quantization's scale and zero point. With `stats_given` false it computes them
  as the original does and returns them; with it true it uses the ones given.

The parts are made once per model file and kept in a folder named by the model's SHA-256.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple, Union

from ...fileio import atomic_write_bytes
from ...models import is_complete, mark_complete, sha256_file
from ...settings import CHILD_POLL_SECONDS, SPLIT_NICENESS

if TYPE_CHECKING:
    from onnx import ModelProto

_LOGGER = logging.getLogger(__name__)

FEATURES = "/encoder/MatMul_1_output_0"  # aligned text features [1, 512, T]
F0 = "/encoder/Reshape_output_0"  # pitch [1, 2T]
ENERGY = "/encoder/Reshape_1_output_0"  # energy [1, 2T]
DURATIONS = "/encoder/Clip_output_0"  # frames per token, padding tokens included
SOURCE = "/decoder/decoder/generator/m_source/l_tanh/Tanh_output_0"  # [1, 600 T, 1]
GENERATOR_INPUT = "/decoder/decoder/decode.3/Div_4_output_0"  # [1, 512, 2T]
STATS_GIVEN = "stats_given"
GIVEN_PREFIX = "given:"
PART_NAMES = ("front", "source", "framerate", "generator")
_VERSION = "1"  # bump when the way the parts are made changes


class SplitError(RuntimeError):
    """The model is not the Kokoro graph these cuts were made for."""


class SplitStopped(RuntimeError):
    """The split was stopped (the server is shutting down); it is made again next time."""


@dataclass(frozen=True)
class ModelParts:
    """Paths of the four parts of one model."""

    front: Path
    source: Path
    framerate: Path
    generator: Path


def split_model(model: Path, cache: Path, stopping: Optional[threading.Event] = None) -> ModelParts:
    """The parts of `model`, made on first use and kept under `cache/<sha256>/`; `stopping`,
    once set, ends a split in progress (`SplitStopped`)."""
    folder = cache / f"{sha256_file(model)[:16]}-v{_VERSION}"
    parts = ModelParts(*(folder / f"{name}.onnx" for name in PART_NAMES))
    if is_complete(folder):
        return parts
    _LOGGER.info("Splitting %s for the streaming decoder (once)", model.name)
    started = time.perf_counter()
    # onnx holds the model several times over while it cuts (about 270 MB at the peak, and
    # the C allocator keeps much of it afterwards): a child process cuts, and gives it all back.
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_split_in_child, args=(sender, model, folder, parts), name="polytts-split"
    )
    child.start()
    sender.close()
    try:
        while child.is_alive():
            if stopping is not None and stopping.is_set():
                raise SplitStopped(f"splitting {model.name} was stopped")
            child.join(CHILD_POLL_SECONDS)
        failure = receiver.recv() if receiver.poll() else None
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        receiver.close()
    if failure is not None:
        raise failure
    if not is_complete(folder):  # the child died without a word (killed for memory, say)
        raise RuntimeError(f"splitting {model.name} failed (exit code {child.exitcode})")
    _LOGGER.info("Split %s in %.1f s", model.name, time.perf_counter() - started)
    return parts


def _split_in_child(sender: Connection, model: Path, folder: Path, parts: ModelParts) -> None:
    """`_split` in the child process, at a low priority (the server may be answering
    meanwhile); its exception, if any, goes back to the parent."""
    if hasattr(os, "nice"):
        os.nice(SPLIT_NICENESS)
    try:
        _split(model, folder, parts)
        sender.send(None)
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        sender.send(error)
    finally:
        sender.close()


def _split(model: Path, folder: Path, parts: ModelParts) -> None:
    """Cut `model` into `parts` in `folder`, marked complete at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    import onnx

    graph = onnx.load(str(model))
    names = {output for node in graph.graph.node for output in node.output}
    missing = [
        name
        for name in (FEATURES, F0, ENERGY, DURATIONS, SOURCE, GENERATOR_INPUT)
        if name not in names
    ]
    if missing:
        raise SplitError(f"{model.name} lacks the tensors the decoder is cut at: {missing}")
    model_inputs = {item.name for item in graph.graph.input}
    token_input = "tokens" if "tokens" in model_inputs else "input_ids"
    cuts: List[Tuple[Path, Sequence[str], Sequence[str], Callable[[ModelProto], None]]] = [
        (parts.front, [token_input, "style", "speed"], [FEATURES, F0, ENERGY, DURATIONS], _keep),
        (parts.source, [F0], [SOURCE], _keep),
        (parts.framerate, [FEATURES, F0, ENERGY, "style"], [GENERATOR_INPUT], _keep),
        (parts.generator, [GENERATOR_INPUT, "style", SOURCE], ["audio"], give_statistics),
    ]
    for path, inputs, outputs, rewrite in cuts:
        part = _extract(graph, inputs, outputs)
        rewrite(part)
        atomic_write_bytes(path, part.SerializeToString())
    mark_complete(folder)


def _keep(_part: ModelProto) -> None:
    """No rewrite."""


def _extract(graph: ModelProto, inputs: Sequence[str], outputs: Sequence[str]) -> ModelProto:
    """The subgraph from `inputs` to `outputs`, checked."""
    import onnx
    from onnx.utils import Extractor

    extractor = Extractor(graph)
    part = extractor.extract_model(list(inputs), list(outputs))
    onnx.checker.check_model(part)
    return part


def give_statistics(part: ModelProto) -> None:
    """Rewrite a generator so its window statistics can be given (see the module's text).

    Each `ReduceMean` (an instance norm's mean or variance over time) and each
    `DynamicQuantizeLinear` (an activation's int8 range) gets an input `given:<tensor>` and
    an output `<tensor>`: `Where(stats_given, given, computed)`.
    """
    from onnx import TensorProto, helper

    graph = part.graph
    graph.input.append(helper.make_tensor_value_info(STATS_GIVEN, TensorProto.BOOL, []))
    nodes = []

    def choose(tensor: str, element: int, shape: Sequence[Union[str, int, None]]) -> str:
        """Route `tensor` through a choice; returns the name the computed value now has."""
        computed = f"{tensor}:computed"
        graph.input.append(helper.make_tensor_value_info(GIVEN_PREFIX + tensor, element, shape))
        graph.output.append(helper.make_tensor_value_info(tensor, element, None))
        nodes.append(
            helper.make_node("Where", [STATS_GIVEN, GIVEN_PREFIX + tensor, computed], [tensor])
        )
        return computed

    for node in list(graph.node):
        nodes.append(node)
        if node.op_type == "ReduceMean":
            node.output[0] = choose(node.output[0], TensorProto.FLOAT, [1, "channels", 1])
        elif node.op_type == "DynamicQuantizeLinear":
            quantized, scale, zero_point = node.output
            node.output[0] = f"{quantized}:dynamic"
            node.output[1] = choose(scale, TensorProto.FLOAT, [])
            node.output[2] = choose(zero_point, TensorProto.UINT8, [])
            nodes.append(
                helper.make_node("QuantizeLinear", [node.input[0], scale, zero_point], [quantized])
            )
    del graph.node[:]
    graph.node.extend(nodes)
