"""A tiny ZipVoice-shaped model that sherpa-onnx's real ZipVoice loader accepts and runs.

Three ONNX graphs built with the `onnx` package, with the inputs, outputs and metadata the
loader of sherpa-onnx 2.0 reads (it binds inputs and outputs by position):

- encoder `tokens, prompt_tokens, prompt_features_len, speed -> text_condition [1, T, 4]`,
  T = 8 frames per text token + the prompt's frames (so about 85 ms of audio per token);
- decoder `t, x, text_condition, speech_condition, guidance_scale -> v`, a velocity that
  pulls the noise towards the prompt features, with the mel metadata of the real export;
- Vocos-type vocoder `mels [1, 100, T] -> mag, cos, sin [1, 513, T]` for sherpa's ISTFT.

The weights mean nothing, so the audio is noise shaped by the prompt; its length, rate and
streaming are what tests can check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEAT_DIM = 100
N_FFT = 1024
HOP = 256
FRAMES_PER_TOKEN = 8
SAMPLE_RATE = 24000

TOKENS = (
    [",", ".", "!", "?", ";", ":"]
    + list("abdefhijklmnoprstuvwz")
    + list("æðŋɐɑɔəɚɛɜɡɪɹɾʃʊʌʒʔθˈˌːᵻ")
    + ["i3", "ao3", "x", "ie4", "n"]
)
LEXICON = """\
hello h ə l ˈoʊ
world w ˈɜː l d
the ð ə
lights l ˈaɪ t s
are ɑːɹ
off ˈɔ f
good ɡ ˈʊ d
morning m ˈɔːɹ n ɪ ŋ
你 n i3
好 h ao3
谢谢 x ie4 x ie4
"""


def _save(graph: object, path: Path, metadata: dict) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_tiny_zipvoice(folder: Path) -> Path:
    """Write the model files into `folder` and return it."""
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    value = helper.make_tensor_value_info
    const = numpy_helper.from_array

    encoder = helper.make_graph(
        [
            helper.make_node("Shape", ["tokens"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["count"], axis=0),
            helper.make_node("Mul", ["count", "per_token"], ["frames"]),
            helper.make_node("Add", ["frames", "prompt_features_len"], ["total"]),
            helper.make_node("Concat", ["one", "total", "width"], ["out_shape"], axis=0),
            helper.make_node(
                "ConstantOfShape",
                ["out_shape"],
                ["text_condition"],
                value=const(np.array([0.5], np.float32)),
            ),
        ],
        "tiny_encoder",
        [
            value("tokens", TensorProto.INT64, [1, "N"]),
            value("prompt_tokens", TensorProto.INT64, [1, "M"]),
            value("prompt_features_len", TensorProto.INT64, [1]),
            value("speed", TensorProto.FLOAT, [1]),
        ],
        [value("text_condition", TensorProto.FLOAT, [1, "T", 4])],
        [
            const(np.array([1], np.int64), "one"),
            const(np.array([FRAMES_PER_TOKEN], np.int64), "per_token"),
            const(np.array([4], np.int64), "width"),
        ],
    )
    _save(encoder, folder / "encoder.onnx", {"use_espeak": 1, "use_pinyin": 1})

    decoder = helper.make_graph(
        [
            helper.make_node("Sub", ["speech_condition", "x"], ["pull"]),
            helper.make_node("Add", ["pull", "floor"], ["towards"]),
            helper.make_node("Mul", ["towards", "guidance_scale"], ["v"]),
        ],
        "tiny_decoder",
        [
            value("t", TensorProto.FLOAT, [1]),
            value("x", TensorProto.FLOAT, [1, "T", FEAT_DIM]),
            value("text_condition", TensorProto.FLOAT, [1, "T", 4]),
            value("speech_condition", TensorProto.FLOAT, [1, "T", FEAT_DIM]),
            value("guidance_scale", TensorProto.FLOAT, [1]),
        ],
        [value("v", TensorProto.FLOAT, [1, "T", FEAT_DIM])],
        [const(np.array([-0.3], np.float32), "floor")],
    )
    _save(
        decoder,
        folder / "decoder.onnx",
        {
            "version": 1,
            "feat_dim": FEAT_DIM,
            "num_mels": FEAT_DIM,
            "sample_rate": SAMPLE_RATE,
            "n_fft": N_FFT,
            "hop_length": HOP,
            "window_length": N_FFT,
        },
    )

    bins = N_FFT // 2 + 1
    weights = np.random.default_rng(7).uniform(0.0, 0.02, (bins, FEAT_DIM)).astype(np.float32)
    vocoder = helper.make_graph(
        [
            helper.make_node("MatMul", ["weights", "mels"], ["mixed"]),
            helper.make_node("Abs", ["mixed"], ["mag"]),
            helper.make_node("Cos", ["mixed"], ["cos"]),
            helper.make_node("Sin", ["mixed"], ["sin"]),
        ],
        "tiny_vocos",
        [value("mels", TensorProto.FLOAT, [1, FEAT_DIM, "T"])],
        [value(name, TensorProto.FLOAT, [1, bins, "T"]) for name in ("mag", "cos", "sin")],
        [const(weights, "weights")],
    )
    _save(
        vocoder,
        folder / "vocos_24khz.onnx",
        {
            "model_type": "vocos",
            "n_fft": N_FFT,
            "hop_length": HOP,
            "win_length": N_FFT,
            "center": 1,
            "normalized": 0,
            "window_type": "hann",
            "pad_mode": "reflect",
            "sample_rate": SAMPLE_RATE,
        },
    )
    (folder / "tokens.txt").write_text(
        "".join(f"{symbol} {index}\n" for index, symbol in enumerate(TOKENS)), encoding="utf-8"
    )
    (folder / "lexicon.txt").write_text(LEXICON, encoding="utf-8")
    return folder


def seconds_for(tokens: int) -> float:
    """Audio the tiny model makes for `tokens` text tokens (before pause shortening)."""
    return (tokens * FRAMES_PER_TOKEN - 1) * HOP / SAMPLE_RATE
