"""Per voice: how the windowed decoder sounds with the voice's own statistics offset, with
the prior of a voice never heard before, and with none, against the whole-sentence decode.

Each voice's offset is learnt from its language's learning sentences (`learn.LEARN_TEXTS`,
as the background learning does). Then each evaluation sentence of its language is decoded
whole and in windows (at a fixed decoder speed, so the windows do not depend on the machine)
with: its own offset; the prior from every other voice measured (`VoiceOffsets.prior`, the
voice itself left out); the prior when only the default voice is learnt (the first answer
after a first start); no offset at all. PESQ (wideband, 16 kHz) as `benchmark_decoder`
measures it, lowest sentence per voice.

    .venv/bin/python script/benchmark_offsets.py --kokoro-voices /tmp/kokoro-js/package/voices
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark_decoder  # noqa: E402

from wyoming_polytts.engines.kokoro import KokoroEngine  # noqa: E402
from wyoming_polytts.engines.kokoro.g2p import voice_language  # noqa: E402
from wyoming_polytts.engines.kokoro.stats import Statistics, VoiceOffsets  # noqa: E402
from wyoming_polytts.engines.kokoro.stream import (  # noqa: E402
    DecoderSpeed,
    KokoroDecoder,
    WindowedSentence,
)
from wyoming_polytts.engines.kokoro.voices import STYLE_DIM, parse_blend  # noqa: E402
from wyoming_polytts.models import resolve_kokoro  # noqa: E402

VOICES = (
    "af_heart",
    "af_bella",
    "am_michael",
    "bf_emma",
    "bm_george",
    "jf_alpha",
    "jm_kumo",
    "ef_dora",
    "ff_siwis",
    "if_sara",
    "pf_dora",
    "hf_alpha",
    "af_bella(2)+af_sky(1)",
    "am_michael(1)+bf_emma(1)",
)
DEFAULT_VOICE = "af_heart"
COLUMNS = {
    "own": "own offset",
    "prior": "prior (others learnt)",
    "default": f"prior ({DEFAULT_VOICE} only)",
    "none": "no offset",
}
FIXED_SPEED = (0.01, 0.008)  # seconds per call, per 25 ms frame: always windows
# Per language, sentences of 3-6 s (streamed in windows), none of them a learning sentence.
TEXTS: Dict[str, Sequence[str]] = {
    "en": (
        "Today in Berlin, it will be mostly sunny with a high of twenty-one degrees.",
        "I turned off the lights in the kitchen and the hallway, and the front door is locked.",
        "Your next meeting starts at three thirty in the afternoon, in the small room.",
    ),
    "es": (
        "Hoy en Madrid estará mayormente soleado, con una máxima de veintiún grados.",
        "He apagado las luces de la cocina y del pasillo, y la puerta está cerrada.",
        "Tu próxima reunión empieza a las tres y media de la tarde, en la sala pequeña.",
    ),
    "fr": (
        "Aujourd'hui à Paris, le temps sera plutôt ensoleillé, avec vingt et un degrés.",
        "J'ai éteint les lumières de la cuisine et du couloir, et la porte est verrouillée.",
        "Votre prochaine réunion commence à quinze heures trente, dans la petite salle.",
    ),
    "it": (
        "Oggi a Roma sarà per lo più soleggiato, con una massima di ventuno gradi.",
        "Ho spento le luci della cucina e del corridoio, e la porta è chiusa a chiave.",
        "La tua prossima riunione inizia alle tre e mezza del pomeriggio, nella sala piccola.",
    ),
    "pt": (
        "Hoje em Lisboa o tempo estará ensolarado, com uma máxima de vinte e um graus.",
        "Apaguei as luzes da cozinha e do corredor, e a porta da frente está trancada.",
        "A sua próxima reunião começa às três e meia da tarde, na sala pequena.",
    ),
    "hi": (
        "आज दिल्ली में ज़्यादातर धूप रहेगी, और अधिकतम तापमान इक्कीस डिग्री रहेगा।",
        "मैंने रसोई और गलियारे की बत्तियाँ बंद कर दी हैं, और दरवाज़ा बंद है।",
        "आपकी अगली बैठक दोपहर साढ़े तीन बजे छोटे कमरे में शुरू होगी।",
    ),
    "ja": (
        "今日の東京はおおむね晴れで、最高気温は二十一度の予想です。",
        "キッチンと廊下の電気を消して、玄関のドアに鍵をかけました。",
        "次の会議は午後三時半から、小さい会議室で始まります。",
    ),
}
_LOGGER = logging.getLogger("benchmark_offsets")


def language_texts(voice: str) -> Sequence[str]:
    language = voice_language(voice) or "en-US"
    return TEXTS[language.split("-")[0].lower()]


def windowed_pesq(
    engine: KokoroEngine, voice: str, text: str, offset: Optional[Statistics]
) -> Optional[float]:
    """PESQ of `text` in windows with `offset` (None: no offset), against its whole decode."""
    decoder = engine._decoder
    assert decoder is not None
    language = voice_language(voice) or "en-US"
    phonemes = engine._phonemes(text, language)
    tokens = [engine._vocab[symbol] for symbol in phonemes if symbol in engine._vocab]
    style = engine._pack(voice)[len(tokens) - 1].reshape(1, STYLE_DIM)
    features = decoder.front(tokens, style, 1.0)
    whole = decoder.whole(features)
    given = offset if offset is not None else zero_offset(decoder)
    sentence = WindowedSentence(decoder, features, voice)
    sentence._decoder = _WithOffset(decoder, given)  # type: ignore[assignment]
    streamed = benchmark_decoder.Streamed()
    while not sentence.finished:
        streamed.chunks.append(sentence.next_chunk())
    if len(sentence.windows) < 2:
        _LOGGER.warning("%s: %r was decoded whole", voice, text)
    pair = benchmark_decoder.SentencePair(text, streamed, whole)
    return benchmark_decoder.sentence_quality(pair)["pesq"]


class _WithOffset:
    """The decoder, handing every voice the offset given (the sentence's view of it)."""

    def __init__(self, decoder: KokoroDecoder, offset: Statistics) -> None:
        self._decoder = decoder
        self._offset = offset

    def offset_of(self, voice: str) -> tuple:
        return self._offset, True

    def streams(self, voice: str) -> bool:
        return True  # in windows, whatever the voice check said

    def __getattr__(self, name: str) -> object:
        return getattr(self._decoder, name)


def zero_offset(decoder: KokoroDecoder) -> Statistics:
    assert decoder.statistics is not None
    return {name: np.zeros_like(value) for name, value in decoder.statistics.offset.items()}


def prior_without(
    learnt: Dict[str, Statistics], voice: str, keep: Callable[[str], bool]
) -> Optional[Statistics]:
    """The prior of `voice` from the learnt voices that `keep` keeps (never itself)."""
    pool = VoiceOffsets()
    for name, offset in learnt.items():
        if name != voice and keep(name):
            for _ in range(2):
                pool.learn(name, offset)
    return pool.prior(parse_blend(voice))


def variant(column: str, own: Dict[str, Statistics], voice: str) -> Optional[Statistics]:
    """The offset a column measures `voice` with (None: none)."""
    if column == "own":
        return own.get(voice)
    if column == "prior":
        return prior_without(own, voice, lambda name: True)
    if column == "default" and voice != DEFAULT_VOICE:
        return prior_without(own, voice, lambda name: name == DEFAULT_VOICE)
    return None


def fixed_engine(voices: Path, data_dir: Path, threads: int) -> Tuple[KokoroEngine, KokoroDecoder]:
    """The embedded model speaking `voices`, its streaming decoder at `FIXED_SPEED` (parts
    and statistics map kept in `data_dir`)."""
    files = resolve_kokoro(data_dir, voices=voices, download=False)
    engine = KokoroEngine(
        files,
        threads=threads,
        parts_dir=data_dir / "parts",
        decoder_speed=DecoderSpeed(*FIXED_SPEED, fixed=True),
    )
    engine.load()
    decoder = engine._decoder
    assert decoder is not None
    return engine, decoder


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kokoro-voices", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/polytts-offsets-bench"))
    parser.add_argument("--voices", nargs="*", default=list(VOICES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--columns", nargs="*", choices=list(COLUMNS), default=list(COLUMNS), help="what to measure"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    engine, decoder = fixed_engine(args.kokoro_voices, args.data_dir, args.threads)
    voices = [v for v in args.voices if engine.phonemizer.available(voice_language(v) or "")]
    for voice in voices:
        while engine.learn_voice(voice):
            pass
    own = decoder.voice_offsets.learnt()  # with those of earlier runs, kept in the parts
    rows: List[List[str]] = []
    for voice in voices:
        cells = [voice]
        for column in args.columns:
            offset = variant(column, own, voice)
            if column != "none" and offset is None:
                cells.append("-")
                continue
            scores = [windowed_pesq(engine, voice, text, offset) for text in language_texts(voice)]
            found = [score for score in scores if score is not None]
            cells.append(
                f"{min(found):.2f} ({np.median(found):.2f})" if found else "-"  # lowest (median)
            )
        _LOGGER.info("%s", " | ".join(cells))
        rows.append(cells)
    print("| voice | " + " | ".join(COLUMNS[column] for column in args.columns) + " |")
    print("|---|" + "---|" * len(args.columns))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
