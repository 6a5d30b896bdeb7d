"""Crash-safe writes: whole new content or the old file, never a temp file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from wyoming_polytts.fileio import atomic_write, atomic_write_bytes
from wyoming_polytts.http.auth import TOKEN_FILE, load_or_create_token


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["state.json"]


def test_new_files_get_the_usual_permissions_unless_told(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write_bytes(tmp_path / "plain", b"x")
    atomic_write_bytes(tmp_path / "secret", b"x", mode=0o600)
    assert mode_of(tmp_path / "plain") == 0o666 & ~umask
    assert mode_of(tmp_path / "secret") == 0o600


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"good")

    def broken(out: BinaryIO) -> None:
        out.write(b"half")
        raise ValueError("checksum mismatch")

    with pytest.raises(ValueError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_the_admin_token_is_stored_for_its_owner_only(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path, None)
    path = tmp_path / TOKEN_FILE
    assert path.read_text(encoding="utf-8") == token + "\n"
    assert mode_of(path) == 0o600
    assert load_or_create_token(tmp_path, None) == token
    assert os.listdir(tmp_path) == [TOKEN_FILE]
