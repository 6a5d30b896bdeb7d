"""Crash-safe file writes: a file is either its old self or wholly new, never half written.

Files that several servers share (one data dir on NFS or a Docker volume) are also read
again when they change (`file_stamp`, `SharedDocument`) and changed under an advisory lock
(`SharedLock`), so two servers saving at once both keep their change.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, List, Optional, Tuple

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


def create_exclusive(path: Path, data: bytes, mode: Optional[int] = None) -> bool:
    """Create `path` with `data`, whole, unless it exists (another server made it a moment
    ago: it wins); whether this call created it. A synced temp file is linked into place."""
    folder = path.parent
    descriptor, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(descriptor, _DEFAULT_MODE if mode is None else mode)
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp_name, path)
        except FileExistsError:
            return False
    finally:
        os.unlink(temp_name)
    fsync_dir(folder)
    return True


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


def parse_document(raw: bytes, key: str) -> List[Any]:
    """The list under `key` of a document `write_document` wrote; `ValueError` if it is none."""
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(str(err)) from None
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"no list of {key}")
    return items


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
        return parse_document(raw, key)
    except ValueError as err:
        aside = set_aside(path)
        _LOGGER.error("The %s %s is unreadable (%s); moved it to %s", what, path, err, aside)
        return []


# -- files several servers share ------------------------------------------------------------

# What tells a file's versions apart without reading it: inode, size, modification and change
# times in ns. An atomic replace gives a file a new inode, so even two versions of one size
# written within one tick of the clock differ.
Stamp = Tuple[int, int, int, int]


def _stamp_of(status: os.stat_result) -> Stamp:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def file_stamp(path: Path) -> Optional[Stamp]:
    """`path`'s stamp (one `stat`), or None when there is no such file."""
    try:
        return _stamp_of(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_stamped(path: Path) -> Tuple[Optional[Stamp], Optional[bytes]]:
    """`path`'s content and the stamp of exactly that version (one open file), or
    (None, None) when there is no such file."""
    try:
        with open(path, "rb") as file:
            return _stamp_of(os.fstat(file.fileno())), file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None, None


class LockTimeout(TimeoutError):
    """A shared file stayed locked (by another thread or server) for too long."""


class SharedLock:
    """A lock held by one thread of all the servers that share a file: a thread lock, and an
    advisory lock (`flock`) on the lock file `path`, which Linux also takes across NFS
    clients. Reentrant in the thread that holds it; every wait is bounded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = threading.RLock()
        self._depth = 0
        self._descriptor: Optional[int] = None

    @contextlib.contextmanager
    def hold(self, timeout: Optional[float] = None) -> Iterator[bool]:
        """Hold the lock, waiting at most `timeout` seconds (`settings.FILE_LOCK_SECONDS`)
        for it, else `LockTimeout`; yields whether this is the outermost hold."""
        if timeout is None:
            from .settings import FILE_LOCK_SECONDS  # settings imports the stores

            timeout = FILE_LOCK_SECONDS
        deadline = time.monotonic() + timeout
        if not self._thread.acquire(timeout=timeout):
            raise LockTimeout(f"{self.path} stayed locked in this server for {timeout:g} s")
        try:
            if self._depth == 0:
                self._descriptor = _flock(self.path, deadline, timeout)
            self._depth += 1
            try:
                yield self._depth == 1
            finally:
                self._depth -= 1
                if self._depth == 0 and self._descriptor is not None:
                    os.close(self._descriptor)  # closing it releases the flock
                    self._descriptor = None
        finally:
            self._thread.release()

    @contextlib.contextmanager
    def local(self) -> Iterator[bool]:
        """The thread lock alone, if no other thread of this server holds it (yields False
        then): what a reader needs, as writes replace the file atomically."""
        taken = self._thread.acquire(blocking=False)
        try:
            yield taken
        finally:
            if taken:
                self._thread.release()


def _flock(path: Path, deadline: float, timeout: float) -> int:
    """An open descriptor of `path` (created if missing) that holds its exclusive flock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _DEFAULT_MODE)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{path} stayed locked by another server for {timeout:g} s; try again"
                )
            time.sleep(0.005)
    except BaseException:
        os.close(descriptor)
        raise


class SharedDocument:
    """A JSON document `{"version": version, key: [...]}` that several servers share.

    Changes are made under `lock` (`SharedLock` on `NAME.lock` beside it): read the file
    (`read_locked`), change, `write`. Readers never lock: `changed` rereads the file when its
    stamp moved, and keeps the last good state (returns None) while it is unreadable.
    """

    def __init__(self, path: Path, version: int, key: str, what: str) -> None:
        self.path = path
        self.version = version
        self.key = key
        self.what = what
        self.lock = SharedLock(path.with_name(f"{path.name}.lock"))
        self._stamp: Optional[Stamp] = None
        self._seen = False  # whether `_stamp` is a version read (None then: no file)
        self._bad: Optional[Stamp] = None  # the unreadable version last logged

    def changed(self, force: bool = False) -> Optional[List[Any]]:
        """The items, if the file changed since it was last read (`force`: read it anyway);
        None when it did not, or when it is unreadable (logged once per version)."""
        if not force and self._seen and file_stamp(self.path) == self._stamp:
            return None
        stamp, raw = read_stamped(self.path)
        items: List[Any] = []
        if raw is not None:
            try:
                items = parse_document(raw, self.key)
            except ValueError as err:
                if stamp != self._bad:
                    self._bad = stamp
                    _LOGGER.warning(
                        "The %s %s is unreadable (%s); keeping what was read before",
                        self.what,
                        self.path,
                        err,
                    )
                return None
        self._stamp, self._seen = stamp, True
        return items

    @contextlib.contextmanager
    def changes(self, force: bool = False) -> Iterator[Optional[List[Any]]]:
        """For a reader: `changed`, under this server's thread lock, held while the caller
        takes the items in. Never waits: while this server changes the file it yields None
        (the change reads the file first)."""
        with self.lock.local() as taken:
            yield self.changed(force) if taken else None

    def read_locked(self, last_good: Callable[[], List[Any]]) -> Optional[List[Any]]:
        """With `lock` held: the items if the file changed since it was last read, else None.

        An unreadable file is set aside (nobody writes it now: it is damaged, not half
        written) and logged; the `last_good` items, if any, are written in its place, so
        every server goes on with them; None is returned.
        """
        stamp, raw = read_stamped(self.path)
        if self._seen and stamp == self._stamp:
            return None
        if raw is None:
            self._stamp, self._seen = None, True
            return []
        try:
            items = parse_document(raw, self.key)
        except ValueError as err:
            aside = self.set_aside()
            _LOGGER.error(
                "The %s %s is unreadable (%s); moved it to %s", self.what, self.path, err, aside
            )
            kept = last_good()
            if kept:
                self.write(kept)
            return None
        self._stamp, self._seen = stamp, True
        return items

    def set_aside(self) -> Path:
        """With `lock` held: move the file away for a person to look at (see `set_aside`)."""
        aside = set_aside(self.path)
        self._stamp, self._seen = None, True
        return aside

    def write(self, items: List[Any]) -> None:
        """With `lock` held: replace the file with `items`, atomically."""
        write_document(self.path, self.version, self.key, items)
        self._stamp, self._seen = file_stamp(self.path), True
