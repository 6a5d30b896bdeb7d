"""Voice presets: a named voice made of a base voice (Kokoro voice, blend or clone) and a speed.

Home Assistant offers only the voices `describe` lists and sends nothing but the voice's name,
so a blend or a speaking rate can be chosen there only as a listed voice: a preset. Presets
live in one JSON file, rewritten atomically on every change (like the lexicon), under a lock
that every server sharing the data dir takes (`fileio.SharedDocument`); `reread` picks up
another server's changes. Whether a base voice exists and speaks is for the voice list to
say: it sets `check`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

from .fileio import SharedDocument
from .registry import NAME_PATTERN

_LOGGER = logging.getLogger(__name__)

MIN_SPEED = 0.25  # the slowest and fastest rates an engine is ever asked for (presets,
MAX_SPEED = 4.0  # --speed, and every product of request, SSML and preset rates)
MAX_DESCRIPTION_CHARS = 200
MAX_VOICE_CHARS = 500
MAX_PRESETS = 500
FILE_VERSION = 1


class PresetError(ValueError):
    """A change the presets refuse, with a message for the person and a stable code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Preset:
    """A listed voice: `voice` (a Kokoro voice, blend or clone) spoken at `speed`."""

    name: str
    voice: str
    speed: float = 1.0
    description: str = ""

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


def check_speed(value: object) -> float:
    """A speaking rate from JSON or a form, `MIN_SPEED` to `MAX_SPEED`."""
    if isinstance(value, bool):
        value = None
    try:
        speed = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        speed = math.nan
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise PresetError(
            f"speed must be a number from {MIN_SPEED:g} to {MAX_SPEED:g}, not {value!r}",
            "bad-speed",
        )
    return speed


def clamp_speed(value: float) -> float:
    """A speed the engines are given: `value` held to `MIN_SPEED` ... `MAX_SPEED`, however
    many rates were multiplied into it (NaN, which no bound holds, becomes 1.0)."""
    if math.isnan(value):
        return 1.0
    return min(max(value, MIN_SPEED), MAX_SPEED)


def build_preset(name: object, voice: object, speed: object, description: object) -> Preset:
    """A preset from request values, or `PresetError` saying what is wrong with them."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise PresetError(
            "A preset name is 1 to 64 characters: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit",
            "invalid-name",
        )
    if not isinstance(voice, str) or not voice.strip() or len(voice) > MAX_VOICE_CHARS:
        raise PresetError(
            "voice must name a Kokoro voice, a blend such as af_sarah(1)+am_adam(2), or a clone",
            "bad-voice",
        )
    if description is None:
        description = ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise PresetError(
            f"description must be text of at most {MAX_DESCRIPTION_CHARS} characters",
            "bad-description",
        )
    return Preset(
        name=name,
        voice="".join(voice.split()),
        speed=check_speed(1.0 if speed is None else speed),
        description=" ".join(description.split()),
    )


class PresetStore:
    """The presets stored in `path`; safe to use from several threads and several servers.

    `check(preset)` raises `PresetError` when a preset may not be saved (its name is another
    voice's, its base does not exist or cannot speak); the voice list that shows the presets
    sets it. It runs under the store's lock, which the voice registry also holds (`held`)
    while a clone takes a name: a name is checked and taken in one step by either. That lock
    is also the file's (see `fileio.SharedLock`): another server sharing the data dir waits
    for it too, and every change starts from the file as it is then.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.check: Callable[[Preset], None] = lambda preset: None
        self._file = SharedDocument(path, FILE_VERSION, "presets", "preset file")
        self._presets: Dict[str, Preset] = {}  # replaced whole on change, read without lock
        self._listeners: List[Callable[[], None]] = []
        self._dirty = False  # the presets changed during the outermost `_exclusive`
        with self._file.lock.hold():
            self._reload()
        _LOGGER.info("%d voice preset(s) in %s", len(self._presets), self.path)

    # -- reading ------------------------------------------------------------------------

    def list(self) -> List[Preset]:
        presets = self._presets
        return [presets[name] for name in sorted(presets)]

    def get(self, name: str) -> Preset:
        preset = self._presets.get(name)
        if preset is None:
            raise PresetError(f"No preset is called {name!r}", "not-found")
        return preset

    def __contains__(self, name: object) -> bool:
        return name in self._presets

    def users(self, voice: str) -> List[str]:
        """The presets whose base is `voice`."""
        return [preset.name for preset in self.list() if preset.voice == voice]

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every change, this server's or another's (`reread`)."""
        self._listeners.append(listener)

    def reread(self, force: bool = False) -> bool:
        """Take in what another server changed in the file (if it changed: `force` reads it
        anyway); whether the presets changed. Never waits: while this server changes them,
        it does nothing (the change reads the file first)."""
        with self._file.changes(force) as items:
            if items is None:
                return False
            presets = _parse(items)
            if presets == self._presets:
                return False
            self._presets = presets
        _LOGGER.info("Presets changed by another server: %d now", len(presets))
        self._changed()
        return True

    # -- changing -----------------------------------------------------------------------

    def put(
        self,
        name: object,
        voice: object,
        speed: object = None,
        description: object = None,
        *,
        replace: bool = True,
    ) -> Tuple[Preset, bool]:
        """Save a preset (a new one only, unless `replace`); returns it and whether it is new.

        Raises `PresetError` and changes nothing when it is invalid.
        """
        preset = build_preset(name, voice, speed, description)
        with self._exclusive():
            created = preset.name not in self._presets
            if not created and not replace:
                raise PresetError(f"A preset called {preset.name!r} exists already", "name-taken")
            if created and len(self._presets) >= MAX_PRESETS:
                raise PresetError(f"There are {MAX_PRESETS} presets already", "too-many")
            if preset.voice in self._presets:
                raise PresetError(
                    f"{preset.voice!r} is a preset; a preset's voice is a Kokoro voice, a blend "
                    "or a clone",
                    "bad-voice",
                )
            self.check(preset)
            self._save({**self._presets, preset.name: preset})
            _LOGGER.info("Preset %s: %s at speed %g", preset.name, preset.voice, preset.speed)
        return preset, created

    def delete(self, name: str) -> Preset:
        with self._exclusive():
            preset = self.get(name)
            presets = dict(self._presets)
            del presets[name]
            self._save(presets)
            _LOGGER.info("Deleted preset %s", name)
        return preset

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold every preset change, of every server, while inside, with the presets as the
        file has them: a clone takes its name in here, so a clone and a preset can never take
        one name at the same instant."""
        with self._exclusive():
            yield

    @contextlib.contextmanager
    def keeping_bases(self, voice: str) -> Iterator[None]:
        """Hold preset changes while `voice` is removed; refuse when a preset uses it."""
        with self._exclusive():
            users = self.users(voice)
            if users:
                raise PresetError(
                    f"The voice {voice!r} is used by the preset {', '.join(users)}: delete "
                    "the preset or give it another voice first",
                    "in-use",
                )
            yield

    # -- storage ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The store's lock (this server's threads and every other server), with the presets
        read again from the file; listeners hear of any change once it is released."""
        dirty = False
        try:
            with self._file.lock.hold() as outermost:
                if not outermost:
                    yield
                    return
                self._dirty = self._reload()
                try:
                    yield
                finally:
                    dirty, self._dirty = self._dirty, False
        finally:
            if dirty:
                self._changed()

    def _reload(self) -> bool:
        """With the lock held: the presets as the file has them now; whether they changed."""
        items = self._file.read_locked(self._items)
        if items is None:
            return False
        presets = _parse(items)
        changed = presets != self._presets
        self._presets = presets
        return changed

    def _items(self) -> List[Dict[str, object]]:
        presets = self._presets
        return [presets[name].to_dict() for name in sorted(presets)]

    def _save(self, presets: Dict[str, Preset]) -> None:
        """Write `presets` to disk, then make them current; call with the lock held."""
        self._file.write([presets[name].to_dict() for name in sorted(presets)])
        self._presets = presets
        self._dirty = True

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener must not undo a stored change
                _LOGGER.exception("A preset listener failed")


def _parse(items: List[Any]) -> Dict[str, Preset]:
    """The presets of a file's items; an invalid one is logged and left out."""
    presets: Dict[str, Preset] = {}
    for item in items:
        try:
            preset = build_preset(
                item.get("name"), item.get("voice"), item.get("speed"), item.get("description")
            )
        except (PresetError, AttributeError) as err:
            _LOGGER.error("Ignoring a stored preset %r: %s", item, err)
            continue
        presets[preset.name] = preset
    return presets
