"""Home Assistant answers with numbers, units, times and symbols, as a listener hears them.

The default voice `af_heart` speaks each answer over the socket and the embedded Whisper base
transcribes it. Whisper writes what it hears with digits and symbols ("21.5 °C", "6.30 a.m."),
so its text goes through the same normalizer (times with a dot read as clock times, as
`intelligibility.normalize_words` reads them) before the words are compared with what must
be said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest

from wyoming_polytts import transcriber
from wyoming_polytts.intelligibility import clock_times, word_error_rate
from wyoming_polytts.speech.normalize import normalize
from wyoming_polytts.transcriber import Transcriber

from .helpers import RunningServer, speak

pytestmark = pytest.mark.skipif(
    not transcriber.available(), reason="needs the [asr] extra (script/setup installs it)"
)
ANSWERS = json.loads((Path(__file__).parent / "data" / "ha_answers.json").read_text("utf-8"))
RATE = 24000
MAX_MEAN_WER = 0.05  # over the whole set


@pytest.mark.intelligibility
async def test_home_assistant_answers_are_understood(
    server: RunningServer, whisper: Transcriber
) -> None:
    assert len(ANSWERS) >= 20
    rates: Dict[str, float] = {}
    for answer in ANSWERS:
        heard = whisper.transcribe(await speak(server, answer["text"]), RATE, language="en")
        rates[answer["text"]] = word_error_rate(answer["say"], normalize(clock_times(heard.text)))
        print(f"WER {rates[answer['text']]:.3f}  {answer['text']!r} -> {heard.text!r}")
    mean = sum(rates.values()) / len(rates)
    print(f"mean WER {mean:.3f} over {len(rates)} answers")
    assert mean <= MAX_MEAN_WER, rates
