"""Intake photos: upload to an RMA (before the intake form cites them), list and fetch them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from engine.actors import Actor
from engine.adapters import uploads
from engine.errors import InvalidInput, NotAllowed, NotFound, RmaNotFound
from engine.services.customers import photo_view
from engine.services.instances import lock_instance
from engine.store.audit import audit
from engine.store.model import Rma, RmaPhoto, utcnow

if TYPE_CHECKING:
    from engine.orchestrator import Orchestrator

UPLOAD_ROLES = ("reception", "manager")


def add_photos(orc: Orchestrator, actor: Actor, rma_id: int, files: list[tuple[str, bytes]]) -> list[dict]:
    """Check and store photos of the unit for an RMA; returns them with their SHA-256 (cite these in the form)."""
    with orc.uow() as uow:
        s = uow.session
        rma = s.get(Rma, rma_id)
        # The centre before the role: another centre's RMA is not revealed (404), whoever asks.
        if rma is None or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"RMA {rma_id} not found")
        if actor.role not in UPLOAD_ROLES:
            raise NotAllowed("only reception or a manager may add intake photos")
        files = [(name, data) for name, data in files if name or data]
        if not files:
            raise InvalidInput("no photo given", {"photos": ["Choose at least one photo (multipart field 'photos')."]})
        if len(files) > uploads.MAX_FILES:
            raise InvalidInput("too many photos", {"photos": [f"At most {uploads.MAX_FILES} photos."]})
        checked = [(name[:200], data, *uploads.check(name or "photo", data)) for name, data in files]
        # every thumbnail is made before anything is stored: a file that does not decode is refused with the rest
        thumbs = [uploads.thumbnail(name or "photo", data, content_type) for name, data, content_type, _ in checked]
        lock_instance(s, rma.id)  # the same photo sent twice at once: the second waits, then finds it stored
        existing = {p.sha256: p for p in s.scalars(select(RmaPhoto).where(RmaPhoto.rma_id == rma.id))}
        if len(existing) + len(checked) > uploads.MAX_FILES * 2:
            raise InvalidInput("too many photos", {"photos": ["This RMA has enough photos already."]})
        result, added = [], []
        for (name, data, content_type, ext), thumb in zip(checked, thumbs, strict=True):
            # The file goes to disk first: if the transaction then fails, an unreferenced file is left
            # (content-addressed, so harmless); a row never points at a missing file.
            sha256, rel = uploads.store(orc.settings.upload_dir, data, ext, thumb)
            photo = existing.get(sha256)
            if photo is None:
                photo = RmaPhoto(
                    rma_id=rma.id,
                    sha256=sha256,
                    content_type=content_type,
                    size=len(data),
                    filename=Path(name).name,
                    path=rel,
                    uploaded_by=actor.username,
                    uploaded_at=utcnow(),
                )
                s.add(photo)
                existing[sha256] = photo
                added.append(photo)
            result.append(photo)
        if added:  # a photo sent again is answered as stored, not recorded twice
            audit(
                s,
                rma.id,
                actor,
                "photos_added",
                f"{len(added)} intake photo(s) added",
                data={"sha256": [p.sha256 for p in added]},
            )
        uow.commit()
        return [photo_view(p) for p in result]


def photo_file(orc: Orchestrator, actor: Actor, rma_id: int, sha256: str, thumb: bool = False) -> tuple[Path, str]:
    """(path on disk, content type) of one of the RMA's photos, or of its JPEG thumbnail, for staff who may see the
    RMA."""
    with orc.reading() as s:
        rma = s.get(Rma, rma_id)
        if rma is None or not actor.may_see_centre(rma.centre_code):
            raise RmaNotFound(f"RMA {rma_id} not found")
        photo = s.scalar(select(RmaPhoto).where(RmaPhoto.rma_id == rma_id, RmaPhoto.sha256 == sha256))
        if photo is None:
            raise NotFound("no such photo")
        try:
            if thumb:
                path = uploads.open_thumbnail(orc.settings.upload_dir, photo.path, photo.sha256, photo.content_type)
                return path, "image/jpeg"
            return uploads.open_path(orc.settings.upload_dir, photo.path, photo.sha256), photo.content_type
        except FileNotFoundError:
            raise NotFound("the photo's file is missing") from None
        except InvalidInput:  # a photo stored before dimensions were checked, too large to make a thumbnail of
            raise NotFound("the photo has no thumbnail") from None
