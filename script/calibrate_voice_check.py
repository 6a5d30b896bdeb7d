"""Per voice: the voice check's measure (`runtime.window_check`: the offset learnt from the
learning sentences, and the lowest segmental SNR of their windows with it) beside PESQ of
`benchmark_offsets`' evaluation sentences in windows with that offset, against the whole
decode (lowest, median).
What `settings.MIN_WINDOW_SNR` is chosen from: voices below PESQ 3.9 fail, the others pass.

    PYTHONPATH=. .venv/bin/python script/calibrate_voice_check.py \\
        --kokoro-voices /work/main/data/kokoro/kokoro-js/voices --voices af_heart ef_dora
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark_offsets  # noqa: E402

from wyoming_polytts.engines.kokoro.g2p import voice_language  # noqa: E402
from wyoming_polytts.engines.kokoro.learn import learn_text  # noqa: E402
from wyoming_polytts.engines.kokoro.runtime import window_check  # noqa: E402
from wyoming_polytts.engines.kokoro.stats import VOICE_SENTENCES  # noqa: E402
from wyoming_polytts.settings import MIN_WINDOW_SNR  # noqa: E402

_LOGGER = logging.getLogger("calibrate_voice_check")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kokoro-voices", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/polytts-offsets-bench"))
    parser.add_argument("--voices", nargs="*", default=list(benchmark_offsets.VOICES))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    engine, decoder = benchmark_offsets.fixed_engine(
        args.kokoro_voices, args.data_dir, args.threads
    )
    rows: List[str] = []
    for voice in args.voices:
        language = voice_language(voice) or "en-US"
        if not engine.phonemizer.available(language) or learn_text(language, 0) is None:
            _LOGGER.warning("%s: no G2P or learning sentences for %s", voice, language)
            continue
        learnt = []
        for index in range(VOICE_SENTENCES):
            text = learn_text(language, index)
            assert text is not None
            sentence = engine._learning_sentence(decoder, text, language, engine._pack(voice))
            learnt.append((sentence, *decoder.whole_and_error(sentence)))
        offset, ratio = window_check(decoder, learnt)
        pesq = "-"
        if language.split("-")[0].lower() in benchmark_offsets.TEXTS:
            scores = [
                benchmark_offsets.windowed_pesq(engine, voice, text, offset)
                for text in benchmark_offsets.language_texts(voice)
            ]
            found = [score for score in scores if score is not None]
            pesq = f"{min(found):.2f} ({np.median(found):.2f})" if found else "-"
        verdict = "streams" if ratio >= MIN_WINDOW_SNR else "whole"
        row = f"| {voice} | {pesq} | {ratio:.1f} | {verdict} |"
        _LOGGER.info("%s", row)
        rows.append(row)
    print(f"| voice | PESQ lowest (median) | check, dB | at {MIN_WINDOW_SNR} dB |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
