"""Voice prompts for cloned voices: validated, stored durably on disk, listed and deleted.

Each voice is one folder `<root>/<name>/` holding `prompt.wav` (mono PCM16 at the clone
rate) and `voice.json`. A folder is built under a hidden temporary name, synced, and renamed
into place in one step; deletion renames it away before removing it. So after a crash at
any moment each voice is either whole or absent, and hidden leftovers are cleaned at start.

Several servers may share the root (one data dir on NFS or a Docker volume): `reread` takes
in the folders another server added or removed, and the rename into place decides a name
that two servers register at once (renaming onto a voice's folder fails: one wins).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, ContextManager, Dict, List, Optional, Tuple

import numpy as np

from . import language_tags
from .audio import (
    UNKNOWN_FRAMES,
    StreamResampler,
    mono_blocks,
    normalize_loudness,
    trim_silence_span,
    wav_bytes,
)
from .fileio import Stamp, file_stamp
from .fileio import fsync_dir as _fsync_dir
from .fileio import write_synced as _write_synced

if TYPE_CHECKING:
    import soundfile

_LOGGER = logging.getLogger(__name__)

PROMPT_RATE = 24000  # ZipVoice's sampling rate
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
PROMPT_FILE = "prompt.wav"
META_FILE = "voice.json"
SILENCE_DBFS = -50.0  # a prompt quieter than this throughout is silent
CLIPPED_LEVEL = 0.999
CLIPPED_FRACTION = 0.001  # more than 0.1 % of samples at full scale is clipping
DELETED_PREFIX = ".deleted-"  # a folder renamed away, being removed
# What tells a voice folder's versions apart: its voice.json's stamp (a new folder holds a new
# file, so a new inode), None without one.
_FolderStamp = Optional[Stamp]


@dataclass(frozen=True)
class PromptLimits:
    """What a voice prompt may be.

    ZipVoice clones from prompts of about 1 to 10 seconds (upstream recommends about
    3 seconds; longer prompts slow every synthesis down), so 10 s is the default maximum.
    """

    min_seconds: float = 1.0
    max_seconds: float = 10.0
    max_bytes: int = 20 * 1024 * 1024
    max_decoded_seconds: float = 60.0  # never decode more than this, whatever the file says
    max_transcript_chars: int = 500


class RegistryError(Exception):
    """A request the registry refuses, with a message for the person and a stable code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class VoiceNotFound(RegistryError):
    """No registered voice has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No registered voice is called {name!r}", "not-found")


@dataclass(frozen=True)
class ClonedVoice:
    """A registered voice: the prompt's transcript, language and facts about its audio."""

    name: str
    transcript: str
    language: str
    duration: float
    sample_rate: int
    source: str
    sha256: str
    created: str
    # The part of the recording kept after trimming its silence, [start, end] in seconds of
    # the recording as it was given; None for a voice registered before it was recorded.
    kept: Optional[Tuple[float, float]] = None

    def __post_init__(self) -> None:
        if self.kept is not None:  # a list when read back from voice.json
            start, end = self.kept
            object.__setattr__(self, "kept", (float(start), float(end)))

    def to_dict(self) -> Dict[str, object]:
        data = asdict(self)
        data["kept"] = list(self.kept) if self.kept is not None else None
        return data


@dataclass(frozen=True)
class PreparedPrompt:
    """A recording made into a prompt: its samples at `PROMPT_RATE`, and the part of the
    recording they are, `[start, end]` in seconds (what trimming its silence kept)."""

    samples: np.ndarray
    kept: Tuple[float, float]


class VoiceRegistry:
    """The registered voices under `root`; safe to use from several threads.

    A new voice's name must not be `is_reserved` (another voice's, a preset's). Whatever
    else hands out voice names is held still by `claim_guard()` while a name is checked
    and taken, so the check and the claim are one step for all of them.
    """

    def __init__(
        self,
        root: Path,
        languages: Collection[str],
        limits: Optional[PromptLimits] = None,
        is_reserved: Callable[[str], bool] = lambda name: False,
        removal_guard: Callable[[str], ContextManager[object]] = lambda name: nullcontext(),
        claim_guard: Callable[[], ContextManager[object]] = nullcontext,
    ) -> None:
        self.root = root
        self.languages = tuple(languages)
        self.limits = limits or PromptLimits()
        self._is_reserved = is_reserved
        self._removal_guard = removal_guard
        self._claim_guard = claim_guard
        self._voices: Dict[str, ClonedVoice] = {}
        self._seen: Dict[str, _FolderStamp] = {}  # the folders as the list was last read
        self._lock = threading.RLock()
        self._prepared: OrderedDict[str, PreparedPrompt] = OrderedDict()
        self._listeners: List[Callable[[], None]] = []

    # -- reading ------------------------------------------------------------------------

    def load(self) -> None:
        """Rebuild the list from disk, removing what an interrupted change left behind: a
        folder being deleted, and one being registered that is `STAGING_STALE_SECONDS` old
        (a younger one may be another server's registration in progress)."""
        from .settings import STAGING_STALE_SECONDS  # see `_frame_cap`

        self.root.mkdir(parents=True, exist_ok=True)
        for folder in sorted(self.root.iterdir()):
            if not folder.name.startswith("."):
                continue
            try:
                age = time.time() - folder.stat().st_mtime
            except FileNotFoundError:
                continue  # another server removed it meanwhile
            if folder.name.startswith(DELETED_PREFIX) or age > STAGING_STALE_SECONDS:
                _LOGGER.warning("Removing %s, left over from an interrupted change", folder)
                shutil.rmtree(folder, ignore_errors=True)
        with self._lock:
            self._voices, self._seen = {}, {}
            self._rescan()
            count = len(self._voices)
        _LOGGER.info("%d registered voice(s) in %s", count, self.root)

    def reread(self, force: bool = False) -> bool:
        """Take in the voices another server sharing the root registered or deleted (the
        folders whose stamps moved; `force`: every voice's voice.json is read again);
        whether the list changed. Listeners hear of a change."""
        with self._lock:
            changed = self._rescan(force)
        if changed:
            _LOGGER.info("Registered voices changed on disk: %d now", len(self._voices))
            self._changed()
        return changed

    def list(self) -> List[ClonedVoice]:
        with self._lock:
            return [self._voices[name] for name in sorted(self._voices)]

    def get(self, name: str) -> ClonedVoice:
        with self._lock:
            voice = self._voices.get(name)
        if voice is None:
            raise VoiceNotFound(name)
        return voice

    def prompt_path(self, name: str) -> Path:
        """The stored prompt audio of a registered voice."""
        self.get(name)
        return self.root / name / PROMPT_FILE

    def prompt_samples(self, name: str) -> np.ndarray:
        """The stored prompt as float32 samples at `PROMPT_RATE`."""
        import soundfile

        samples, _ = soundfile.read(self.prompt_path(name), dtype="float32")
        return np.asarray(samples, dtype=np.float32)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every registration and deletion."""
        self._listeners.append(listener)

    # -- changing -----------------------------------------------------------------------

    def register(
        self, name: object, transcript: object, language: object, audio: bytes, source: str
    ) -> ClonedVoice:
        """Validate and store a new voice; raises `RegistryError` and stores nothing on error."""
        name = self._check_name(name)
        transcript = self.check_transcript(transcript)
        language = self._check_language(language)
        prepared = self.prepared(audio)
        samples = prepared.samples
        wav = wav_bytes(samples, PROMPT_RATE)
        voice = ClonedVoice(
            name=name,
            transcript=transcript,
            language=language,
            duration=round(len(samples) / PROMPT_RATE, 3),
            sample_rate=PROMPT_RATE,
            source=source[:500],
            sha256=hashlib.sha256(wav).hexdigest(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            kept=prepared.kept,
        )
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".incoming-{name}-{uuid.uuid4().hex}"
        staging.mkdir()
        other = False  # whether another server's change was found meanwhile
        try:
            _write_synced(staging / PROMPT_FILE, wav)
            _write_synced(staging / META_FILE, json.dumps(voice.to_dict(), indent=2).encode())
            _fsync_dir(staging)
            with self._claim_guard(), self._lock:
                other = self._rescan()
                self._check_name(name)  # another registration or a preset may have won
                _claim(staging, self.root / name)  # another server may have won
                _fsync_dir(self.root)
                self._voices[name] = voice
                self._seen[name] = self._stamp(name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if other:
                self._changed()
            raise
        _LOGGER.info("Registered voice %s (%.1f s, %s)", name, voice.duration, language)
        self._changed()
        return voice

    def delete(self, name: str) -> None:
        """Remove a registered voice; `removal_guard(name)` may refuse (e.g. a preset uses
        it) and holds what depends on it still until the voice is gone."""
        other = False
        try:
            with self._removal_guard(name), self._lock:
                other = self._rescan()
                self.get(name)
                doomed = self.root / f"{DELETED_PREFIX}{name}-{uuid.uuid4().hex}"
                try:
                    os.rename(self.root / name, doomed)
                except FileNotFoundError:  # another server deleted it a moment ago
                    raise VoiceNotFound(name) from None
                _fsync_dir(self.root)
                del self._voices[name]
                self._seen.pop(name, None)
        except BaseException:
            if other:
                self._changed()
            raise
        shutil.rmtree(doomed, ignore_errors=True)
        _LOGGER.info("Deleted voice %s", name)
        self._changed()

    def clear_caches(self) -> int:
        """Forget prepared prompts kept for repeated uploads; returns how many."""
        with self._lock:
            count = len(self._prepared)
            self._prepared.clear()
        return count

    # -- the folders on disk ------------------------------------------------------------

    def _stamp(self, name: str) -> _FolderStamp:
        return file_stamp(self.root / name / META_FILE)

    def _stamps(self) -> Dict[str, _FolderStamp]:
        """Every voice folder (hidden ones are changes in progress) and its stamp."""
        stamps: Dict[str, _FolderStamp] = {}
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return stamps
        for entry in entries:
            if not entry.name.startswith("."):
                stamps[entry.name] = self._stamp(entry.name)
        return stamps

    def _rescan(self, force: bool = False) -> bool:
        """With the lock held: the list made again from the folders whose stamps moved
        (`force`: every known voice's voice.json compared); whether it changed. A folder that
        changed into one that cannot be read keeps its last good voice (logged)."""
        stamps = self._stamps()
        if not force and stamps == self._seen:
            return False
        voices: Dict[str, ClonedVoice] = {}
        for name, stamp in stamps.items():
            known = self._voices.get(name)
            if name in self._seen and self._seen[name] == stamp:
                if known is None:
                    continue  # unreadable, as it was last time (logged then)
                if not force or _meta(self.root / name) in (known, None):
                    voices[name] = known  # None: unreadable, as it was (logged then)
                    continue
            voice = _read_voice(self.root / name)
            if voice is None and known is not None:
                _LOGGER.warning("Keeping voice %s as it was last read", name)
                voice = known
            if voice is not None:
                voices[name] = voice
        self._seen = stamps
        if voices == self._voices:
            return False
        self._voices = voices
        return True

    # -- validation ---------------------------------------------------------------------

    def _check_name(self, name: object) -> str:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise RegistryError(
                "A voice name is 1 to 64 characters: lowercase letters, digits, '-' and '_', "
                "starting with a letter or digit",
                "invalid-name",
            )
        with self._lock:
            taken = name in self._voices
        if taken or self._is_reserved(name):
            raise RegistryError(f"The name {name!r} is already taken by a voice", "name-taken")
        return name

    def check_transcript(self, transcript: object) -> str:
        """A prompt's transcript with its spaces folded; refused when empty or too long."""
        text = " ".join(transcript.split()) if isinstance(transcript, str) else ""
        if not text:
            raise RegistryError("The transcript of the recording is empty", "bad-transcript")
        if len(text) > self.limits.max_transcript_chars:
            raise RegistryError(
                f"The transcript is {len(text)} characters long; at most "
                f"{self.limits.max_transcript_chars} fit a prompt of "
                f"{self.limits.max_seconds:g} s",
                "bad-transcript",
            )
        return text

    def match_language(self, tag: object) -> Optional[str]:
        """The registry's spelling of a language tag, or None when clones cannot speak it.

        Tags are case-insensitive and may use `_` (BCP 47): `en-us`, `EN_US` -> `en-US`. A
        bare language means its first registry variant (`en` -> `en-US`); a tag whose
        language is listed bare means that language (`zh-CN`, `zh-Hans` -> `zh`).
        """
        if not isinstance(tag, str):
            return None
        wanted = language_tags.fold(tag)
        primary = language_tags.primary(tag)
        if not primary:
            return None
        by_lower = {known.lower(): known for known in self.languages}
        if wanted in by_lower:
            return by_lower[wanted]
        if wanted == primary:
            return next(
                (known for lower, known in by_lower.items() if lower.split("-")[0] == primary),
                None,
            )
        return by_lower.get(primary)

    def _check_language(self, language: object) -> str:
        matched = self.match_language(language)
        if matched is None:
            raise RegistryError(
                f"Cloned voices can speak {', '.join(self.languages)}, not {language!r}",
                "unsupported-language",
            )
        return matched

    def prepare(self, audio: bytes) -> np.ndarray:
        """Decoded, checked, mono, trimmed, normalized prompt samples at `PROMPT_RATE`.

        Raises `RegistryError` for audio that is no usable prompt; cached by content.
        """
        return self.prepared(audio).samples

    def prepared(self, audio: bytes) -> PreparedPrompt:
        """`prepare`, with the part of the recording that was kept."""
        limits = self.limits
        if len(audio) > limits.max_bytes:
            raise RegistryError(
                f"The audio file is {len(audio) / 1e6:.1f} MB; the limit is "
                f"{limits.max_bytes / 1e6:.0f} MB",
                "too-large",
            )
        key = hashlib.sha256(audio).hexdigest()
        with self._lock:
            if key in self._prepared:
                self._prepared.move_to_end(key)
                return self._prepared[key]
        prepared = _decode(audio, limits)
        with self._lock:
            self._prepared[key] = prepared
            while len(self._prepared) > 8:
                self._prepared.popitem(last=False)
        return prepared

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener must not undo a stored change
                _LOGGER.exception("A registry listener failed")


def _decode(audio: bytes, limits: PromptLimits) -> PreparedPrompt:
    """The prompt in `audio`, checked by its header, then decoded a block at a time."""
    import soundfile

    try:
        sound = soundfile.SoundFile(io.BytesIO(audio))
    except Exception as err:  # noqa: BLE001 - libsndfile raises several types
        raise RegistryError(
            "This is not audio that can be read (use WAV, FLAC, OGG or MP3)", "not-audio"
        ) from err
    with sound:
        cap = _frame_cap(sound.samplerate, sound.channels, sound.frames, limits)
        samples, levels = _read_mono(sound, cap, limits.max_seconds)
    _check_levels(levels)
    return _shaped(samples, limits)


def _frame_cap(rate: int, channels: int, frames: int, limits: PromptLimits) -> int:
    """How many frames of this file may be decoded; raises `RegistryError` when its header
    alone shows it is no prompt (odd rate or channels, too long, too many samples)."""
    # settings imports presets, which imports this module: read the bounds when used
    from .settings import MAX_AUDIO_CHANNELS, MAX_AUDIO_RATE, MAX_AUDIO_SAMPLES, MIN_AUDIO_RATE

    if rate <= 0 or channels <= 0:
        raise RegistryError("The audio file declares no samples", "not-audio")
    if not MIN_AUDIO_RATE <= rate <= MAX_AUDIO_RATE:
        raise RegistryError(
            f"The recording's sample rate is {rate} Hz; prompts are read at "
            f"{MIN_AUDIO_RATE} to {MAX_AUDIO_RATE} Hz",
            "unsupported-audio",
        )
    if channels > MAX_AUDIO_CHANNELS:
        raise RegistryError(
            f"The recording has {channels} channels; prompts may have at most "
            f"{MAX_AUDIO_CHANNELS} (they are mixed to mono)",
            "unsupported-audio",
        )
    if frames != UNKNOWN_FRAMES:
        declared = max(frames, 0) / rate
        if declared > limits.max_decoded_seconds:
            raise RegistryError(
                f"The recording is {declared:.0f} s long; prompts may be at most "
                f"{limits.max_seconds:g} s",
                "too-long",
            )
        if frames * channels > MAX_AUDIO_SAMPLES:
            raise RegistryError(
                f"The recording holds {frames * channels / 1e6:.1f} million samples "
                f"({channels} channels, {declared:.0f} s at {rate} Hz); at most "
                f"{MAX_AUDIO_SAMPLES / 1e6:g} million are read: send fewer channels, a lower "
                "rate or a shorter recording",
                "too-long",
            )
    return min(int(limits.max_decoded_seconds * rate), MAX_AUDIO_SAMPLES // channels)


@dataclass
class _Levels:
    """What the checks need to know of a recording's mono mix at its own rate."""

    frames: int = 0
    squares: float = 0.0
    clipped: int = 0

    def add(self, block: np.ndarray) -> None:
        self.frames += len(block)
        self.squares += float(np.sum(np.square(block, dtype=np.float64)))
        self.clipped += int(np.count_nonzero(np.abs(block) >= CLIPPED_LEVEL))

    def dbfs(self) -> float:
        """RMS level in dBFS (-inf for silence or no samples)."""
        if self.squares <= 0:
            return float("-inf")
        return 10 * float(np.log10(self.squares / self.frames))


def _read_mono(
    sound: soundfile.SoundFile, cap: int, max_seconds: float
) -> Tuple[np.ndarray, _Levels]:
    """The file's mono mix at `PROMPT_RATE` and its levels, read a block at a time; refused
    as soon as it holds more than `cap` frames, whatever its header said."""
    from .settings import DECODE_BLOCK_FRAMES  # see `_frame_cap`

    rate = sound.samplerate
    levels = _Levels()
    resampler = StreamResampler(rate, PROMPT_RATE)
    parts: List[np.ndarray] = []
    try:
        for block in mono_blocks(sound, DECODE_BLOCK_FRAMES, cap + 1):
            levels.add(block)
            parts.append(resampler.push(block))
    except Exception as err:  # noqa: BLE001 - libsndfile raises several types
        raise RegistryError(
            f"The audio could not be decoded (is the file whole?): {err}", "not-audio"
        ) from err
    if levels.frames > cap:
        raise RegistryError(
            f"The recording holds more than {cap / rate:.0f} s of audio; prompts may be at "
            f"most {max_seconds:g} s",
            "too-long",
        )
    parts.append(resampler.finish())
    return np.concatenate(parts), levels


def _check_levels(levels: _Levels) -> None:
    """Refuse a silent or clipped recording."""
    if levels.frames == 0 or levels.dbfs() < SILENCE_DBFS - 20:
        raise RegistryError("The recording is silent", "silent")
    clipped = levels.clipped / levels.frames
    if clipped > CLIPPED_FRACTION:
        raise RegistryError(
            f"The recording is clipped ({clipped:.1%} of samples at full scale); record it "
            "again a little quieter",
            "clipped",
        )


def _shaped(samples: np.ndarray, limits: PromptLimits) -> PreparedPrompt:
    """Mono `PROMPT_RATE` samples trimmed of silence, checked for length and normalized."""
    samples, start = trim_silence_span(samples, PROMPT_RATE, 0.1, 0.2, threshold_db=SILENCE_DBFS)
    if samples.size == 0:
        raise RegistryError("The recording is silent", "silent")
    seconds = len(samples) / PROMPT_RATE
    if seconds < limits.min_seconds:
        raise RegistryError(
            f"The speech in the recording lasts {seconds:.1f} s; at least "
            f"{limits.min_seconds:g} s are needed",
            "too-short",
        )
    if seconds > limits.max_seconds:
        raise RegistryError(
            f"The speech in the recording lasts {seconds:.1f} s; prompts may be at most "
            f"{limits.max_seconds:g} s (about 3 s clones best)",
            "too-long",
        )
    kept = (round(start / PROMPT_RATE, 3), round((start + len(samples)) / PROMPT_RATE, 3))
    return PreparedPrompt(normalize_loudness(samples), kept)


def _claim(staging: Path, target: Path) -> None:
    """Rename a built voice folder into place; `name-taken` if a voice's folder is there
    (another server registered the name a moment ago: renaming onto it fails)."""
    try:
        os.rename(staging, target)
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise RegistryError(
                f"The name {target.name!r} is already taken by a voice", "name-taken"
            ) from None
        raise


def _meta(folder: Path) -> Optional[ClonedVoice]:
    """The voice `folder`'s voice.json describes (its audio unchecked), or None."""
    try:
        data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        return ClonedVoice(**data)
    except (OSError, ValueError, TypeError):
        return None


def _read_voice(folder: Path) -> Optional[ClonedVoice]:
    """The voice stored in `folder`, or None (logged) when it is not whole and valid."""
    try:
        data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        voice = ClonedVoice(**data)
        digest = hashlib.sha256((folder / PROMPT_FILE).read_bytes()).hexdigest()
    except (OSError, ValueError, TypeError) as err:
        _LOGGER.error("Ignoring %s: not a complete voice (%s)", folder, err)
        return None
    if voice.name != folder.name or not NAME_PATTERN.fullmatch(voice.name):
        _LOGGER.error("Ignoring %s: it names itself %r", folder, voice.name)
        return None
    if digest != voice.sha256:
        _LOGGER.error("Ignoring %s: its prompt audio does not match its checksum", folder)
        return None
    return voice
