"""What the windowed decoder learns voices from, and which voices were spoken lately.

A voice's statistics offset (`stats.VoiceOffsets`) is learnt from sentences decoded whole:
its first answers', or, in the background, these fixed sentences in its language
(`KokoroEngine.learn_voice`). The voices spoken lately are kept (`RecentVoices`), so that
they are learnt again in the background after a start that lost their offsets (a new model,
a new statistics map).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ...fileio import atomic_write_bytes
from ...settings import RECENT_VOICES

_LOGGER = logging.getLogger(__name__)

# Per language, the sentences a voice's offset is learnt from in the background (as many as
# `stats.VOICE_SENTENCES`): a long and a short one, each decoded whole within
# `settings.MAX_LEARN_FRAMES`. English: the server's warm-up sentences.
LEARN_TEXTS: Dict[str, Tuple[str, ...]] = {
    "en": (
        "The living room lights are now off, and the front door is locked for the night.",
        "Okay, I set a timer for ten minutes.",
    ),
    "es": (
        "Las luces del salón están apagadas y la puerta principal está cerrada con llave.",
        "Vale, he puesto un temporizador de diez minutos.",
    ),
    "fr": (
        "Les lumières du salon sont éteintes, et la porte d'entrée est fermée pour la nuit.",
        "D'accord, j'ai réglé une minuterie de dix minutes.",
    ),
    "hi": (
        "बैठक की बत्तियाँ बंद हैं, और सामने का दरवाज़ा रात के लिए बंद है।",
        "ठीक है, मैंने दस मिनट का टाइमर लगा दिया है।",
    ),
    "it": (
        "Le luci del soggiorno sono spente, e la porta d'ingresso è chiusa per la notte.",
        "Va bene, ho impostato un timer di dieci minuti.",
    ),
    "ja": (
        "リビングの電気を消して、玄関の鍵をかけました。おやすみなさい。",
        "はい、十分のタイマーをセットしました。",
    ),
    "pt": (
        "As luzes da sala estão apagadas, e a porta da frente está trancada para a noite.",
        "Certo, programei um temporizador de dez minutos.",
    ),
    "zh": (
        "客厅的灯已经关了，前门也已经锁好了，晚安。",
        "好的，我设置了一个十分钟的计时器。",
    ),
}


def learn_text(language: str, index: int) -> Optional[str]:
    """The `index`-th learning sentence for a language tag (`en-GB`, `pt-BR`), if any."""
    texts = LEARN_TEXTS.get(language.split("-")[0].lower())
    return texts[index % len(texts)] if texts else None


class RecentVoices:
    """The `RECENT_VOICES` voices spoken last (names or blend specs), kept in a JSON file.

    The file is written only when a voice joins the list, not each time one is spoken again;
    an unreadable one is ignored (logged).
    """

    def __init__(self, path: Optional[Path], limit: int = RECENT_VOICES) -> None:
        self._path = path
        self._limit = limit
        self._voices: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        for voice in self._read()[-limit:]:
            self._voices[voice] = None

    def voices(self) -> List[str]:
        """The voices, the most recent last."""
        with self._lock:
            return list(self._voices)

    def spoken(self, voice: str) -> None:
        """`voice` was just spoken."""
        with self._lock:
            joined = voice not in self._voices
            self._voices[voice] = None
            self._voices.move_to_end(voice)
            while len(self._voices) > self._limit:
                self._voices.popitem(last=False)
            voices = list(self._voices)
        if joined and self._path is not None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(self._path, json.dumps(voices).encode())
            except OSError as error:
                _LOGGER.warning("Cannot save the recent voices to %s: %s", self._path, error)

    def _read(self) -> List[str]:
        if self._path is None or not self._path.is_file():
            return []
        try:
            voices = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            _LOGGER.warning("Ignoring unreadable recent voices %s: %s", self._path, error)
            return []
        if not isinstance(voices, list) or not all(isinstance(v, str) for v in voices):
            _LOGGER.warning("Ignoring recent voices %s: not a list of names", self._path)
            return []
        return voices
