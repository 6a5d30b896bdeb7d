"""Kokoro-82M on onnxruntime: voice packs, phonemes, inference."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ContextManager,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np

from ...models import KokoroFiles
from ...preemption import PausableSession
from ...settings import MIN_WINDOW_SNR
from ..base import (
    AudioStream,
    Playback,
    SynthesisError,
    VoiceSpec,
    WholeAudio,
    WordTiming,
    written_phonemes_runs,
)
from .check import segmental_snr
from .g2p import (
    INSTALL_EXTRA,
    Phonemizer,
    spoken_languages,
    text_language,
    voice_language,
)
from .learn import RecentVoices, learn_text
from .prepare import AnswerGate, GatedSession
from .split import PART_NAMES, ModelParts, SplitStopped, split_model
from .stats import CALIBRATION_TEXTS, VOICE_SENTENCES, Statistics
from .stream import (
    SAMPLES_PER_FRAME,
    DecoderSpeed,
    Features,
    FitStopped,
    KokoroDecoder,
    WindowedSentence,
)
from .voices import STYLE_DIM, load_voice_packs, parse_blend
from .words import PhonemeSpan, match_words, timed_words, written_words

if TYPE_CHECKING:  # the Triton modules import this package's `split`
    from ..triton.client import TritonServers

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 24000
MAX_PHONEMES = 510  # the model's context, less the two padding tokens
ATTRIBUTION = ("hexgrad (Kokoro-82M, Apache-2.0)", "https://huggingface.co/hexgrad/Kokoro-82M")
_PHONEME_BREAKS = re.compile(r"(?<=[.!?;:,—…])\s+")
_MAX_BLENDS = 32
RECENT_FILE = "recent-voices.json"  # in the parts folder, for every model


_arena_lock = threading.Lock()
_arena_shared = False


def share_cpu_arena(onnxruntime: Any) -> None:
    """One CPU memory arena for every onnxruntime session of the process that asks for it
    (`session.use_env_allocators`), registered once. The split decoder's four sessions take
    turns; with an arena each, each kept the memory of its largest run (about 50 MB more
    after a whole-sentence decode)."""
    global _arena_shared
    with _arena_lock:
        if _arena_shared:
            return
        memory = onnxruntime.OrtMemoryInfo(
            "Cpu",
            onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR,
            0,
            onnxruntime.OrtMemType.DEFAULT,
        )
        # No limit, the default growth (kNextPowerOfTwo), default chunk sizes.
        onnxruntime.create_and_register_allocator(memory, onnxruntime.OrtArenaCfg(0, 0, -1, -1))
        _arena_shared = True


def load_vocab(path: Optional[Path]) -> Dict[str, int]:
    """Phoneme -> token id, from Kokoro's config.json/vocab.json or a tokenizer.json."""
    if path is None:
        from ... import models

        path = models.embedded_vocab_path()
    data = json.loads(path.read_text(encoding="utf-8"))
    vocab = data.get("vocab") or data.get("model", {}).get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(f"{path} holds no Kokoro phoneme vocabulary")
    return {str(key): int(value) for key, value in vocab.items() if len(key) == 1}


def split_phonemes(phonemes: str, limit: int = MAX_PHONEMES) -> List[str]:
    """Split a phoneme string into pieces of at most `limit`, at punctuation, else at spaces."""
    pieces: List[str] = []
    rest = phonemes.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        breaks = [match.start() for match in _PHONEME_BREAKS.finditer(window)]
        cut = breaks[-1] if breaks else window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


class KokoroEngine:
    """Kokoro-82M v1.0 ONNX, shared by all worker threads.

    With `parts_dir` (and on the CPU) the model is split once into the parts of the windowed
    decoder (`split`, cached there) and `stream` sends audio before a sentence is
    decoded; without it, or where the split fails, the model runs whole.

    On a server's first start (`whole_first`) the unsplit model speaks at once while
    `prepare_streaming` makes the decoder in the background, giving way to answers.
    """

    # Set by the server: a sentence asked before anything is loaded loads only the unsplit
    # model (`load_whole`), not the streaming decoder too (`load`).
    whole_first = False

    name = "kokoro"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        files: KokoroFiles,
        threads: int,
        phonemizer: Optional[Phonemizer] = None,
        device: str = "cpu",
        parts_dir: Optional[Path] = None,
        decoder_speed: Optional[DecoderSpeed] = None,
        remote: Optional[TritonServers] = None,
        windows: bool = True,
    ):
        """`decoder_speed`: a fixed speed for the windowed decoder instead of the measured
        one, so its windows do not depend on the machine (tests). `remote`: the parts run on
        these Triton servers (`parts_dir` is needed: the model is split here, and nothing
        runs here but the G2P); `windows` False decodes each sentence whole there."""
        if remote is not None and parts_dir is None:
            raise ValueError("Kokoro on Triton needs a parts folder")
        self.files = files
        self.remote = remote
        self._windows = windows
        self._parts: Optional[ModelParts] = None  # on Triton: the parts it is asked for
        self._remote_problem: Optional[str] = None  # why Triton could not speak, last asked
        self.device = device
        self._parts_dir = parts_dir
        self._decoder: Optional[KokoroDecoder] = None
        self._decoder_speed = decoder_speed
        self._threads = threads
        self._packs = load_voice_packs(files.voices)
        self._vocab = load_vocab(files.vocab)
        self.phonemizer = phonemizer or Phonemizer()
        self._session: Optional[object] = None
        self._input_names: Mapping[str, str] = {}
        self._speed_type = "tensor(float)"
        self._blends: Dict[str, np.ndarray] = {}
        self._blends_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._prepare_lock = threading.Lock()
        self._stopping = threading.Event()
        self._recent = RecentVoices(parts_dir / RECENT_FILE if parts_dir is not None else None)
        # Told (from a worker thread) of each voice spoken before its offset was learnt.
        self.on_unlearnt: Callable[[str], None] = lambda voice: None
        # Per voice being learnt in the background: its learning sentences so far, each with
        # its whole decode and the map's error on it (`learn_voice`).
        self._learning: Dict[str, List[Tuple[Features, np.ndarray, Statistics]]] = {}
        self._learning_lock = threading.Lock()
        self._gate = AnswerGate(self._stopping)
        self._stage = ""  # how far `prepare_streaming` is, for the start-up report
        self._unusable: Optional[str] = None  # why there is no streaming decoder

    def voices(self) -> Sequence[VoiceSpec]:
        specs = []
        for name in sorted(self._packs):
            if voice_language(name) is None:
                _LOGGER.warning("Skipping Kokoro voice %s: unknown language prefix", name)
                continue
            specs.append(self._spec(name, name))
        return specs

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        """A blend of packs such as `af_sarah(1)+am_adam(2)`; None when `name` is no blend."""
        if "+" not in name and "(" not in name:
            return None
        weights = parse_blend(name)
        unknown = [part for part in weights if part not in self._packs]
        if unknown:
            raise SynthesisError(f"Unknown voice {', '.join(unknown)} in blend {name!r}")
        return self._spec(name, next(iter(weights)))

    def _spec(self, name: str, first_pack: str) -> VoiceSpec:
        language = voice_language(first_pack) or "en-US"
        languages = spoken_languages(language)
        installed = self.phonemizer.available(language)
        description = f"{name} (Kokoro, {', '.join(languages)})"
        if not installed:
            description += " - no G2P installed for this language"
            if language in INSTALL_EXTRA:
                description += f" (install wyoming-polytts[{INSTALL_EXTRA[language]}])"
        return VoiceSpec(
            name=name,
            languages=languages,
            description=description,
            installed=installed,
            attribution_name=ATTRIBUTION[0],
            attribution_url=ATTRIBUTION[1],
        )

    def _pack(self, voice: str) -> np.ndarray:
        """A voice pack, or the weighted average of the packs of a blend (cached)."""
        if voice in self._packs:
            return self._packs[voice]
        with self._blends_lock:  # worker threads share the cache
            if voice in self._blends:
                return self._blends[voice]
            if self.custom_voice(voice) is None:
                raise SynthesisError(f"Kokoro has no voice {voice!r}")
            blend = np.zeros_like(next(iter(self._packs.values())))
            for name, weight in parse_blend(voice).items():
                blend += self._packs[name] * np.float32(weight)
            if len(self._blends) >= _MAX_BLENDS:
                self._blends.pop(next(iter(self._blends)))
            self._blends[voice] = blend
            return blend

    def load(self) -> None:
        """Everything, now: the streaming decoder where it can be made, else the unsplit
        model."""
        if not self.prepare_streaming():
            self.load_whole()

    def load_whole(self) -> None:
        """The unsplit model (about a second): sentences are decoded whole with it until
        `prepare_streaming` swaps the streaming decoder in."""
        if self.remote is not None:  # nothing is loaded here: the parts run on Triton
            self.prepare_streaming()
            return
        with self._load_lock:
            if self._session is not None or self._decoder is not None:
                return
            whole = PausableSession(self._new_session(str(self.files.model)))
            _LOGGER.info("Kokoro ONNX runs on %s", ", ".join(whole.get_providers()))
            names = {item.name for item in whole.get_inputs()}
            token_input = "tokens" if "tokens" in names else "input_ids"
            if token_input not in names or not {"style", "speed"} <= names:
                raise ValueError(f"{self.files.model} is not a Kokoro ONNX model (inputs: {names})")
            self._input_names = {"tokens": token_input}
            self._speed_type = next(i.type for i in whole.get_inputs() if i.name == "speed")
            self._session = whole

    def prepare_streaming(self) -> bool:
        """Make the streaming decoder (split, statistics fit, speed; kept beside the parts)
        and swap it in; False where there is none (no parts dir, a GPU, a model that cannot
        be split: sentences stay whole). Its model calls give way to answers, so the server
        can speak meanwhile; a stop ends it (`SplitStopped`, `FitStopped`)."""
        with self._prepare_lock:
            if self._decoder is not None:
                return True
            if self._parts_dir is None or self._unusable is not None:
                return False
            if self.remote is None and self._providers()[0] != "CPUExecutionProvider":
                self._unusable = "the model runs on a GPU"
                return False
            started = time.perf_counter()
            try:
                decoder = self._make_decoder(self._parts_dir)
            except (SplitStopped, FitStopped):
                self._stage = "stopped"
                raise
            except Exception as error:  # noqa: BLE001 - any other export still runs whole
                if self._stopping.is_set() or self.remote is not None:
                    raise  # on Triton: nothing runs here, so no whole model either
                self._unusable = f"{type(error).__name__}: {error}"
                _LOGGER.warning(
                    "No streaming decoder for %s (%s); sentences are decoded whole",
                    self.files.model.name,
                    self._unusable,
                )
                return False
            self._swap_in(decoder)
            _LOGGER.info(
                "Kokoro streaming decoder ready (prepared in %.1f s)", time.perf_counter() - started
            )
            return True

    def _make_decoder(self, parts_dir: Path) -> KokoroDecoder:
        """Split, load the parts, fit the statistics map and measure the decoder's speed."""
        self._stage = "splitting the model"
        parts = split_model(self.files.model, parts_dir, self._stopping)
        self._stage = "loading the parts"
        if self.remote is not None:
            # Nothing is loaded here, and nothing speaks before the decoder is made: answers
            # wait for it (no gate), and its calls do not wait for answers.
            self._gate.open = True

        def session(path: str) -> GatedSession:
            if self.remote is not None:
                from ..triton.client import RemoteSession
                from ..triton.repository import model_name

                part = Path(path)
                remote = RemoteSession(self.remote, part, model_name(part.stem))
                return GatedSession(PausableSession(remote), self._gate)
            self._gate.wait_turn()
            return GatedSession(PausableSession(self._new_session(path)), self._gate)

        decoder = KokoroDecoder(parts, session, self._decoder_speed)
        if not self._windows:  # no statistics map: every sentence is decoded whole
            return decoder
        self._gate.wait_turn()
        samples = self._calibration_samples()

        def fitting(done: int, total: int) -> None:
            self._stage = f"fitting {done}/{total}"
            _LOGGER.info("Kokoro decoder: statistics fit, sentence %d of %d", done, total)

        decoder.fit_statistics(samples, self._stopping, fitting)
        # Last: the fit's calls would move a measured speed (their times include waits).
        self._stage = "measuring the decoder speed"
        while True:  # a measurement that had to give way to an answer is made again
            interruptions = self._gate.interruptions
            decoder.calibrate()
            if self._gate.interruptions == interruptions:
                return decoder

    def _swap_in(self, decoder: KokoroDecoder) -> None:
        """The streaming decoder takes the next sentences; one in progress ends as it began
        (a whole decode by the decoder gives the unsplit model's samples)."""
        self._gate.open = True
        self._input_names = {"tokens": decoder.token_input}
        self._decoder = decoder
        self._stage = "ready"
        # The unsplit model goes (the decoder's whole decode gives the same samples): 110 MB
        # less resident once the heap is trimmed. A sentence decoding with it keeps it to
        # its end.
        if self._session is not None:
            self._session = None
            gc.collect()
            _trim_heap()

    def remote_problem(self) -> Optional[str]:
        """On Triton: why no server can speak yet (None: one can). The model is split here
        first (once), so the servers' parts can be checked against it."""
        from ..triton.repository import model_name, parts_identity

        assert self.remote is not None and self._parts_dir is not None
        if self._parts is None:
            self._stage = "splitting the model"
            self._parts = split_model(self.files.model, self._parts_dir, self._stopping)
        self._stage = "asking Triton"
        names = [model_name(part) for part in PART_NAMES]
        problem = self.remote.problem(names, parts_identity(self._parts))
        self._stage = f"waiting for Triton ({problem})" if problem else "loading the parts"
        self._remote_problem = problem
        return problem

    def _providers(self) -> List[str]:
        import onnxruntime

        providers = ["CPUExecutionProvider"]
        if self.device == "cuda" or (
            self.device == "auto"
            and "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        ):
            providers.insert(0, "CUDAExecutionProvider")
        return providers

    def _new_session(self, path: str) -> Any:
        """An onnxruntime session with the engine's threads and the shared CPU arena."""
        import onnxruntime

        share_cpu_arena(onnxruntime)
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.use_env_allocators", "1")
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        # Memory patterns are planned per input shape; every sentence length is a new
        # shape, so with them the process grew by ~180 MB per pass over a long text.
        options.enable_mem_pattern = False
        # The split decoder takes turns between four sessions, each with its own
        # threads: threads that spin after their run would take the cores from the
        # next session's (first audio came about 10 % later with spinning).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(path, sess_options=options, providers=self._providers())

    def stop(self) -> None:
        """End a first start's split or statistics fit in progress (the server is stopping):
        they take tens of seconds, and would hold the process until done."""
        self._stopping.set()
        self._gate.stop()

    def answering(self) -> ContextManager[None]:
        """An answer's work: the streaming decoder's preparation gives way meanwhile."""
        return self._gate.answering()

    def start_up_report(self) -> Dict[str, object]:
        """Whether sentences can be spoken yet, and how far the streaming decoder is."""
        speaking = self.loaded
        if not speaking and self.remote is not None:
            progress = f"Triton at {self.remote.describe()}: {self._stage or 'waiting'}"
        elif not speaking:
            progress = "loading the model"
        elif self.remote is not None:
            how = "streaming decoder" if self._windows else "whole sentences"
            progress = f"speaking ({how} on Triton at {self.remote.describe()})"
        elif self._decoder is not None:
            progress = "speaking (streaming decoder ready)"
        elif self._unusable is not None:
            progress = f"speaking (whole sentences; no streaming decoder: {self._unusable})"
        elif self._parts_dir is None or not self._windows:
            progress = "speaking (whole sentences)"
        else:
            stage = self._stage or "waiting"
            if self._gate.paused:
                stage += ", paused while answering"
            progress = f"speaking (whole sentences; streaming decoder being prepared: {stage})"
        return {"speaking": speaking, "progress": progress}

    def _calibration_samples(self) -> List[Tuple[List[int], np.ndarray]]:
        """The statistics map's calibration sentences (English), each spoken by another of
        the installed voices, spread over them."""
        names = sorted(self._packs)
        samples = []
        for index, text in enumerate(CALIBRATION_TEXTS):
            phonemes = self._phonemes(text, "en-US")
            tokens = [self._vocab[symbol] for symbol in phonemes if symbol in self._vocab]
            pack = self._packs[names[index * len(names) // len(CALIBRATION_TEXTS)]]
            samples.append((tokens, pack[len(tokens) - 1].reshape(1, STYLE_DIM)))
        return samples

    def recent_voices(self) -> List[str]:
        """The voices (names or blend specs) spoken lately, the most recent last."""
        return self._recent.voices()

    def voice_spoken(self, voice: str) -> None:
        """Keep `voice` among the recent ones; tell `on_unlearnt` if it has no offset yet."""
        self._recent.spoken(voice)
        decoder = self._decoder
        if decoder is not None and decoder.streams(voice) is None:  # not learnt or not checked
            self.on_unlearnt(voice)

    def learn_voice(self, voice: str) -> bool:
        """One step of learning and checking a voice: decode its next learning sentence
        (`learn.LEARN_TEXTS`) whole, and keep the map's error on it; after the last, its
        offset is their mean, and it is checked (`check_voice`). False, and nothing else
        done, when the voice is checked already (its language's G2P is built then), there is
        no streaming decoder yet, it is no Kokoro voice or blend, or its language has no
        G2P; call until False."""
        decoder = self._decoder
        if decoder is None or decoder.statistics is None:
            return False
        try:
            pack = self._pack(voice)
        except SynthesisError:  # another engine's voice (a clone)
            return False
        language = voice_language(voice.strip()) or "en-US"
        if decoder.streams(voice) is not None:
            # Checked before: its G2P is built now, not by its first answer (pyopenjtalk's
            # dictionary takes a quarter of a second to load).
            self.phonemizer.prepare(language)
            return False
        if learn_text(language, 0) is None or not self.phonemizer.available(language):
            return False
        with self._learning_lock, self._gate.background():  # answers abort its model calls
            learnt = self._learning.setdefault(voice, [])
            text = learn_text(language, len(learnt))
            assert text is not None
            sentence = self._learning_sentence(decoder, text, language, pack)
            audio, error = decoder.whole_and_error(sentence)
            learnt.append((sentence, audio, error))
            _LOGGER.debug("Kokoro decoder: learnt %s from %r", voice, text)
            if len(learnt) >= VOICE_SENTENCES:
                del self._learning[voice]
                self.check_voice(decoder, voice, learnt)
        return True

    def check_voice(
        self,
        decoder: KokoroDecoder,
        voice: str,
        learnt: Sequence[Tuple[Features, np.ndarray, Statistics]],
    ) -> bool:
        """Whether the voice streams, and keep it with its offset (the mean of the map's
        errors on its learning sentences, `learnt`: each with its whole decode and error):
        each sentence decoded in the check's windows with the offset, against its whole
        decode (`check.segmental_snr`, the lowest). A voice that fails has its sentences
        decoded whole."""
        offset, ratio = window_check(decoder, learnt)
        streams = ratio >= MIN_WINDOW_SNR
        decoder.voice_offsets.judge(voice, offset, streams)
        if streams:
            _LOGGER.info("Kokoro decoder: %s streams (windows at %.1f dB SNR)", voice, ratio)
        else:
            _LOGGER.warning(
                "Kokoro decoder: %s is decoded whole: its windows differ from the whole decode "
                "(%.1f dB segmental SNR, below %.1f dB)",
                voice,
                ratio,
                MIN_WINDOW_SNR,
            )
        return streams

    def _learning_sentence(
        self, decoder: KokoroDecoder, text: str, language: str, pack: np.ndarray
    ) -> Features:
        """The front's output for a learning sentence in the voice of `pack`."""
        phonemes = self._phonemes(text, language)[:MAX_PHONEMES]
        tokens = [self._vocab[symbol] for symbol in phonemes if symbol in self._vocab]
        style = pack[len(tokens) - 1].reshape(1, STYLE_DIM)
        return decoder.front(tokens, style, 1.0)

    @property
    def streaming(self) -> bool:
        """Whether `stream` sends a sentence's audio in windows (after `load`)."""
        return self._decoder is not None

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        speech = self.stream(text, voice, speed)
        audio = []
        while not speech.finished:
            audio.append(speech.next_chunk())
        return np.concatenate(audio) if audio else np.zeros(0, np.float32)

    def stream(
        self, text: str, voice: str, speed: float, playback: Optional[Playback] = None
    ) -> KokoroSpeech:
        """Audio of one sentence in stretches: windows with the streaming decoder, else the
        pieces of at most `MAX_PHONEMES` whole. Nothing runs before the first `next_chunk`."""
        return KokoroSpeech(self, text, voice, speed, playback)

    def sentence(
        self,
        tokens: List[int],
        style: np.ndarray,
        speed: float,
        voice: str,
        playback: Optional[Playback] = None,
    ) -> AudioStream:
        """The audio of one piece of token ids (within the model's context) in `voice`."""
        self._ensure_loaded()
        decoder = self._decoder  # once: the decoder may be swapped in meanwhile
        if decoder is None:
            return WholeAudio(lambda: self._run(tokens, style, speed))
        features = decoder.front(tokens, style, speed)
        return WindowedSentence(decoder, features, voice, playback)

    @property
    def loaded(self) -> bool:
        """Whether sentences can be decoded without loading a model first."""
        return self._session is not None or self._decoder is not None

    def _ensure_loaded(self) -> None:
        if not self.loaded and self._remote_problem is not None:
            from ..triton.client import TritonError

            raise TritonError(f"Kokoro on Triton cannot speak yet: {self._remote_problem}")
        if not self.loaded:
            if self.whole_first:
                self.load_whole()
            else:
                self.load()

    def _phonemes(self, text: str, language: str) -> str:
        """Kokoro phonemes of `text`: its words through the G2P, marked IPA as it is."""
        return " ".join(phonemes for _, phonemes in self._phoneme_runs(text, language))

    def _phoneme_runs(self, text: str, language: str) -> List[Tuple[str, str]]:
        """`text` in runs, each as (what is written, its phonemes in Kokoro's alphabet, only
        symbols the model knows): plain text through the G2P, marked IPA as it is (written as
        the words its mark says, else as its phonemes). Runs without phonemes are left out."""
        runs = []
        for is_phonemes, part, written in written_phonemes_runs(text):
            if is_phonemes:
                phonemes = part
            elif part.strip():
                phonemes = self.phonemizer.phonemize(part, text_language(part, language))
            else:
                continue
            known = "".join(symbol for symbol in phonemes if symbol in self._vocab).strip()
            if known:
                runs.append((written or known, known))
        return runs

    def _run(self, tokens: List[int], style: np.ndarray, speed: float) -> np.ndarray:
        """The model itself: token ids (without padding) and a style vector to samples."""
        self._ensure_loaded()
        session = self._session  # first: a swap sets the decoder before it drops the session
        decoder = self._decoder
        if decoder is not None:
            return decoder.whole(decoder.front(tokens, style, speed))
        speed_dtype = np.int32 if "int" in self._speed_type else np.float32
        feeds = {
            self._input_names["tokens"]: np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([speed], dtype=speed_dtype),
        }
        assert session is not None
        output = session.run(None, feeds)[0]  # type: ignore[attr-defined]
        return np.asarray(output, dtype=np.float32).reshape(-1)


def window_check(
    decoder: KokoroDecoder, learnt: Sequence[Tuple[Features, np.ndarray, Statistics]]
) -> Tuple[Statistics, float]:
    """The offset learnt from `learnt` (sentences, each with its whole decode and the map's
    error on it: their mean), and the lowest segmental SNR of each sentence decoded in the
    check's windows with it against its whole decode (`check.segmental_snr`)."""
    offset = {
        name: np.mean([error[name] for _, _, error in learnt], axis=0).astype(np.float32)
        for name in learnt[0][2]
    }
    ratio = min(
        segmental_snr(decoder.windowed(sentence, offset), audio) for sentence, audio, _ in learnt
    )
    return offset, ratio


def _trim_heap() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise); does nothing
    where the C library has no `malloc_trim`."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


class KokoroSpeech:
    """A text's audio from `KokoroEngine`, stretch by stretch (an `AudioStream`)."""

    def __init__(
        self,
        engine: KokoroEngine,
        text: str,
        voice: str,
        speed: float,
        playback: Optional[Playback] = None,
    ) -> None:
        self._engine = engine
        self._playback = playback
        self._text = text
        self._voice = voice
        self._speed = speed
        self._pieces: Optional[List[List[int]]] = None
        self._current: Optional[AudioStream] = None
        self._starts: List[int] = []  # where each piece begins in the phoneme string
        self._spans: List[PhonemeSpan] = []  # the written words and their phonemes
        self._timed = True  # whether the current piece's words are timed yet
        self._made = 0  # samples returned so far
        self._piece_begins = 0  # the sample the current piece begins at
        self.words: List[WordTiming] = []  # the words timed so far (`stream_words`)

    @property
    def finished(self) -> bool:
        if self._pieces is None:
            return False
        return not self._pieces and (self._current is None or self._current.finished)

    @property
    def next_is_last(self) -> bool:
        if self._pieces is None or self._pieces or self._current is None:
            return False
        return not self._current.finished and self._current.next_is_last

    def next_chunk(self) -> np.ndarray:
        with self._engine.answering():
            return self._next_chunk()

    def _next_chunk(self) -> np.ndarray:
        if self._pieces is None:
            self._prepare()
        assert self._pieces is not None
        if self._current is None or self._current.finished:
            if not self._pieces:
                return np.zeros(0, np.float32)
            tokens = self._pieces.pop(0)
            pack = self._engine._pack(self._voice)
            style = pack[min(len(tokens), len(pack)) - 1].reshape(1, STYLE_DIM)
            self._current = self._engine.sentence(
                tokens, style, self._speed, self._voice, self._playback
            )
            self._piece_begins, self._timed = self._made, False
        chunk = self._current.next_chunk()
        if not self._timed:
            self._time_words(self._current)
        self._made += chunk.size
        return chunk

    def _time_words(self, current: AudioStream) -> None:
        """The words of the piece that just began, once its front has run. The unsplit
        model (the first seconds of a first start) tells no durations: no words then."""
        self._timed = True
        if not isinstance(current, WindowedSentence) or current.origin is None:
            return
        start = self._starts[len(self._starts) - len(self._pieces or []) - 1]
        length = current.durations.size - 2
        for word in timed_words(
            self._spans,
            start,
            length,
            current.durations,
            current.origin * SAMPLES_PER_FRAME,
            SAMPLES_PER_FRAME,
        ):
            self.words.append(
                WordTiming(
                    word.word, word.start + self._piece_begins, word.end + self._piece_begins
                )
            )

    def _prepare(self) -> None:
        """Phonemes, cut into pieces the model can take, as token ids."""
        engine = self._engine
        language = voice_language(self._voice.strip()) or "en-US"
        engine._pack(self._voice)  # an unknown voice fails here, before any model work
        engine.voice_spoken(self._voice)
        spans: List[PhonemeSpan] = []
        phonemes = ""
        for written, said in engine._phoneme_runs(self._text, language):
            phonemes += " " if phonemes else ""
            spans.extend(match_words(written_words(written), said, len(phonemes)))
            phonemes += said
        vocab = engine._vocab
        self._spans, self._starts, self._pieces = spans, [], []
        cursor = 0
        for piece in split_phonemes(phonemes):
            cursor = phonemes.index(piece, cursor)  # each piece is a stretch of the string
            self._starts.append(cursor)
            self._pieces.append([vocab[symbol] for symbol in piece])
            cursor += len(piece)
