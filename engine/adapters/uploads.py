"""Intake photos on disk: type checked by magic bytes, size and pixel dimensions limited, stored by SHA-256 outside
the database, each with a small JPEG thumbnail beside it (what the receipt shows)."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import InvalidInput

MAX_BYTES = 8 * 1024 * 1024  # per photo; a request carries at most 16 MB (MAX_CONTENT_LENGTH)
MAX_FILES = 12
# Width x height, read from the header before anything is decoded: a few kilobytes of PNG can claim 13000 x 13000
# pixels (half a gigabyte once decoded). 40 megapixels is more than a phone photo within MAX_BYTES, and below
# Pillow's own decompression-bomb warning (Image.MAX_IMAGE_PIXELS), so a checked image decodes without one.
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
THUMB_SIDE = 480  # the receipt's thumbnails: three to a row on A4
SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"))
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes; None for anything but JPEG or PNG."""
    for magic, content_type, ext in SIGNATURES:
        if data.startswith(magic):
            return content_type, ext
    return None


def check(name: str, data: bytes) -> tuple[str, str]:
    """Refuse what is not a JPEG or PNG, empty, larger than MAX_BYTES or than MAX_PIXELS, naming the file."""
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
    check_dimensions("photos", name, data, kind[0])
    return kind


def check_dimensions(field: str, name: str, data: bytes, content_type: str) -> tuple[int, int]:
    """(width, height) from the image's header, nothing decoded; refused under `field` beyond MAX_PIXELS or
    MAX_SIDE, or when the header cannot be read."""
    too_large = InvalidInput(
        f"{name} has too many pixels",
        {field: [f"{name}: at most {MAX_PIXELS // 1_000_000} megapixels and {MAX_SIDE} pixels a side."]},
    )
    try:
        with Image.open(io.BytesIO(data), formats=[_FORMATS[content_type]]) as image:
            width, height = image.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # Pillow's own check, far above ours (a warning turned into an error by a warnings filter included)
        raise too_large from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, KeyError):
        raise InvalidInput(f"{name} cannot be read", {field: [f"{name}: the image cannot be read."]}) from None
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise too_large
    return width, height


def thumbnail(name: str, data: bytes, content_type: str) -> bytes:
    """A checked image as a JPEG at most THUMB_SIDE a side, upright by its EXIF orientation; an image that does not
    decode is refused naming the file."""
    check_dimensions("photos", name, data, content_type)
    try:
        with Image.open(io.BytesIO(data), formats=[_FORMATS[content_type]]) as image:
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # a JPEG decodes at a fraction of its size
            small = ImageOps.exif_transpose(image)
            small.thumbnail((THUMB_SIDE, THUMB_SIDE))
            out = io.BytesIO()
            small.convert("RGB").save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{name} cannot be read", {"photos": [f"{name}: the image cannot be read."]}) from exc


def relative_path(sha256: str, ext: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def thumbnail_path(rel: str) -> str:
    """Where a stored photo's thumbnail lies: beside it, `<sha256>.thumb.jpg`."""
    return f"{rel.rsplit('.', 1)[0]}.thumb.jpg"


def _write_once(target: Path, data: bytes) -> None:
    """Write the bytes to `target` unless it exists (atomic rename: never half a file)."""
    if target.exists():
        return
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


def store(upload_dir: Path | str, data: bytes, ext: str, thumb: bytes | None = None) -> tuple[str, str]:
    """Write the bytes once under their SHA-256, and their thumbnail beside them; returns (sha256, path relative to
    upload_dir)."""
    sha256 = hashlib.sha256(data).hexdigest()
    rel = relative_path(sha256, ext)
    _write_once(Path(upload_dir) / rel, data)
    if thumb is not None:
        _write_once(Path(upload_dir) / thumbnail_path(rel), thumb)
    return sha256, rel


def open_path(upload_dir: Path | str, rel: str, sha256: str) -> Path:
    """The stored file, checked against its checksum's name (no path tricks)."""
    base = Path(upload_dir).resolve()
    path = (base / rel).resolve()
    if base not in path.parents or not path.name.startswith(sha256):
        raise FileNotFoundError(rel)
    return path


def open_thumbnail(upload_dir: Path | str, rel: str, sha256: str, content_type: str) -> Path:
    """The stored photo's thumbnail; one stored before thumbnails were made is made now, once, from the photo."""
    path = open_path(upload_dir, thumbnail_path(rel), sha256)
    if not path.exists():
        photo = open_path(upload_dir, rel, sha256)
        _write_once(path, thumbnail(photo.name, photo.read_bytes(), content_type))
    return path


def read_upload(storage) -> tuple[str, bytes]:
    """(file name, bytes) of a web framework's uploaded file, reading at most MAX_BYTES + 1 and closing it."""
    try:
        return storage.filename or "", storage.read(MAX_BYTES + 1)
    finally:
        storage.close()
