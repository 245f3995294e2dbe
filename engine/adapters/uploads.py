"""Intake photos on disk: type checked by magic bytes, size limited, stored by SHA-256 outside the database."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from engine.errors import InvalidInput

MAX_BYTES = 8 * 1024 * 1024  # per photo; a request carries at most 16 MB (MAX_CONTENT_LENGTH)
MAX_FILES = 12
SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"))


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes; None for anything but JPEG or PNG."""
    for magic, content_type, ext in SIGNATURES:
        if data.startswith(magic):
            return content_type, ext
    return None


def check(name: str, data: bytes) -> tuple[str, str]:
    """Refuse what is not a JPEG or PNG, empty, or larger than MAX_BYTES, naming the file."""
    if not data:
        raise InvalidInput(f"{name} is empty", {"photos": [f"{name}: the file is empty."]})
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            f"{name} is too large", {"photos": [f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MB."]}
        )
    kind = sniff(data)
    if kind is None:
        raise InvalidInput(
            f"{name} is not a JPEG or PNG image", {"photos": [f"{name}: only JPEG or PNG photos are accepted."]}
        )
    return kind


def relative_path(sha256: str, ext: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def store(upload_dir: Path | str, data: bytes, ext: str) -> tuple[str, str]:
    """Write the bytes once under their SHA-256 (atomic rename); returns (sha256, path relative to upload_dir)."""
    sha256 = hashlib.sha256(data).hexdigest()
    rel = relative_path(sha256, ext)
    target = Path(upload_dir) / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return sha256, rel


def open_path(upload_dir: Path | str, rel: str, sha256: str) -> Path:
    """The stored file, checked against its checksum's name (no path tricks)."""
    base = Path(upload_dir).resolve()
    path = (base / rel).resolve()
    if base not in path.parents or not path.name.startswith(sha256):
        raise FileNotFoundError(rel)
    return path


def read_upload(storage) -> tuple[str, bytes]:
    """(file name, bytes) of a web framework's uploaded file, reading at most MAX_BYTES + 1 and closing it."""
    try:
        return storage.filename or "", storage.read(MAX_BYTES + 1)
    finally:
        storage.close()
