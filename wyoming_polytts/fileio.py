"""Crash-safe file writes: a file is either its old self or wholly new, never half written."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, List, Optional

_LOGGER = logging.getLogger(__name__)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# New files get the permissions `open` would give them; mkstemp alone would make them 0600.
_DEFAULT_MODE = 0o666 & ~_read_umask()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_synced(path: Path, data: bytes) -> None:
    """Write `data` to `path` in place and flush it to disk (for files in a staging folder)."""
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def atomic_write_bytes(path: Path, data: bytes, mode: Optional[int] = None) -> None:
    """Replace `path` with `data`: temp file in the same folder, fsync, rename, fsync folder.

    `mode` sets the file's permissions before any byte is written (e.g. 0o600 for secrets);
    by default they are what `open` would give a new file.
    """
    atomic_write(path, lambda out: out.write(data), mode)


def atomic_write(
    path: Path, write: Callable[[BinaryIO], object], mode: Optional[int] = None
) -> None:
    """Like `atomic_write_bytes`, for content that `write` streams into the open temp file.

    If `write` raises, the temp file is removed and `path` is left as it was.
    """
    folder = path.parent
    descriptor, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(descriptor, _DEFAULT_MODE if mode is None else mode)
        with os.fdopen(descriptor, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise
    fsync_dir(folder)


def set_aside(path: Path) -> Path:
    """Rename an unreadable file to `NAME.corrupt-<UTC time>` for a person to look at, out of
    the way of new saves; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    os.replace(path, aside)
    return aside


def write_document(path: Path, version: int, key: str, items: List[Any]) -> None:
    """Save `{"version": version, key: items}` as UTF-8 JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": version, key: items}
    data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    atomic_write_bytes(path, data)


def read_document(path: Path, key: str, what: str) -> List[Any]:
    """The list under `key` of the JSON document `path` wrote by `write_document`.

    No file: an empty list. An unreadable file is set aside (logged, with where it went)
    and an empty list returned, so a damaged file is never lost nor overwritten.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        document = json.loads(raw.decode("utf-8"))
        items = document[key] if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise ValueError(f"no list of {key}")
    except (ValueError, KeyError, UnicodeDecodeError) as err:
        aside = set_aside(path)
        _LOGGER.error("The %s %s is unreadable (%s); moved it to %s", what, path, err, aside)
        return []
    return items
