"""Photos and proofs of purchase: pixel dimensions read from the header at upload and capped (issue 20, point 13).

A few kilobytes of PNG can claim 13000 x 13000 pixels; such a file is refused with 422 naming the field (`photos`,
`proof_of_purchase`) through the API and through the staff intake form and the public request form, before
anything is stored or decoded. The receipt (HTML and PDF) shows each photo's stored thumbnail, made once at upload
beside the photo, never the photo itself. Each case on both databases.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import zlib
from datetime import date, timedelta

import pytest
from PIL import Image

from engine.adapters import uploads
from engine.errors import InvalidInput
from tests.helpers import INTAKE, seed_request_form, staff_session
from tests.web.conftest import ApiDriver


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def png_claiming(width: int, height: int) -> bytes:
    """A valid one-bit grey PNG of width x height, all black: a few kilobytes on disk, whatever it claims."""
    rows = zlib.compress(b"\0" * ((1 + (width + 7) // 8) * height), 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def photo(size=(640, 480)) -> bytes:
    """A noisy photo (incompressible, below the test client's 500 KB spooling to a temporary file)."""
    out = io.BytesIO()
    Image.frombytes("L", size, os.urandom(size[0] * size[1])).save(out, "PNG")
    return out.getvalue()


BOMB = ("bomb.png", png_claiming(13000, 13000))
BOMB_REFUSED = "bomb.png: at most 40 megapixels and 12000 pixels a side."


pytestmark = pytest.mark.without_csrf


@pytest.fixture
def api(client) -> ApiDriver:
    return ApiDriver(client)


def _upload(api, rma_id, *files):
    data = {"photos": [(io.BytesIO(content), name) for name, content in files]}
    return api.client.post(
        f"/api/rmas/{rma_id}/photos",
        headers=api.headers("sg.reception"),
        data=data,
        content_type="multipart/form-data",
    )


@pytest.fixture
def online(orc):
    seed_request_form(orc)


def _request(proof: tuple[str, bytes]) -> dict:
    return {
        "centre": "SG",
        "name": "Kim Tan",
        "email": "kim@example.com",
        "language": "en",
        "model": "Vista X100 Camera",
        "serial_number": "SN-PX-1",
        "purchase_date": (date.today() - timedelta(days=200)).isoformat(),
        "fault_description": "Does not power on",
        "proof_of_purchase": (io.BytesIO(proof[1]), proof[0]),
    }


def _stored(orc) -> list[str]:
    folder = orc.settings.upload_dir
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_the_header_is_read_without_decoding_and_the_cap_is_ours():
    assert len(BOMB[1]) < 50_000  # small on disk: the byte limit alone lets it through
    with pytest.raises(InvalidInput, match="too many pixels") as refused:
        uploads.check(*BOMB)
    assert refused.value.errors == {"photos": [BOMB_REFUSED]}
    assert uploads.check_dimensions("photos", "a.png", png_claiming(6000, 6000), "image/png") == (6000, 6000)
    wide = (8000, 6000)  # 48 megapixels: above MAX_PIXELS, below Pillow's own decompression-bomb warning
    assert uploads.MAX_PIXELS < wide[0] * wide[1] < Image.MAX_IMAGE_PIXELS
    for name, size in (("wide.png", wide), ("tall.png", (40, uploads.MAX_SIDE + 1))):
        with pytest.raises(InvalidInput, match="too many pixels"):
            uploads.check_dimensions("proof_of_purchase", name, png_claiming(*size), "image/png")
    cut = png_claiming(200, 100)[:60]  # the header is whole, the pixels are cut off
    assert uploads.check("cut.png", cut) == ("image/png", "png")
    with pytest.raises(InvalidInput, match="cannot be read"):
        uploads.thumbnail("cut.png", cut, "image/png")


def test_a_13000_pixel_png_is_refused_naming_the_field_by_the_api_and_the_staff_and_request_forms(
    online, api, app, orc
):
    rma = api.open_rma()
    response = _upload(api, rma["id"], ("front.png", photo((64, 48))), BOMB)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"] == {"photos": [BOMB_REFUSED]}
    cut = _upload(api, rma["id"], ("cut.png", png_claiming(200, 100)[:60]))
    assert cut.status_code == 422 and cut.get_json()["errors"] == {"photos": ["cut.png: the image cannot be read."]}
    assert _stored(orc) == []  # the good photo of the same upload is not stored either

    task = api.only_task("sg.reception", rma["id"])
    staff = app.test_client()
    with staff.session_transaction() as session:
        staff_session(session, app, "sg.reception")
    form = {**{k: str(v) for k, v in INTAKE.items()}, "photos": [(io.BytesIO(BOMB[1]), BOMB[0])]}
    page = staff.post(f"/tasks/{task['id']}", data=form, content_type="multipart/form-data")
    assert page.status_code == 422 and BOMB_REFUSED in page.get_data(as_text=True)
    assert api.only_task("sg.reception", rma["id"])["status"] == "open" and _stored(orc) == []

    # the proof of purchase of an online request, on the API and on the public form
    anonymous = app.test_client()
    refused = anonymous.post("/api/requests", data=_request(BOMB), content_type="multipart/form-data")
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["errors"] == {"proof_of_purchase": [BOMB_REFUSED]}
    page = anonymous.post("/request", data=_request(BOMB), content_type="multipart/form-data")
    assert page.status_code == 422 and BOMB_REFUSED in page.get_data(as_text=True)
    assert _stored(orc) == []
    receipt_photo = ("receipt.png", png_claiming(800, 1200))  # a photo of the receipt within the cap is taken
    ok = anonymous.post("/api/requests", data=_request(receipt_photo), content_type="multipart/form-data")
    assert ok.status_code == 201, ok.get_json()


def _pdf_images(pdf: bytes) -> list[tuple[int, int]]:
    """(width, height) of each image the PDF embeds."""
    heads = [head for head in re.findall(rb"obj\n<<(.*?)>>\nstream", pdf, re.S) if b"/Subtype /Image" in head]
    return [tuple(int(re.search(rb"/%s (\d+)" % key, head)[1]) for key in (b"Width", b"Height")) for head in heads]


def test_the_receipt_shows_the_stored_thumbnail_not_the_photo(api, app, orc):
    rma = api.open_rma()
    big = photo()
    [stored] = _upload(api, rma["id"], ("front.png", big)).get_json()
    thumbs = list(orc.settings.upload_dir.rglob(f"{stored['sha256']}.thumb.jpg"))
    assert len(thumbs) == 1  # made at upload, beside the photo
    with Image.open(thumbs[0]) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (uploads.THUMB_SIDE, uploads.THUMB_SIDE * 3 // 4)
    api.do("sg.reception", rma["id"], "record_condition", {**INTAKE, "photos": [stored["sha256"]]})

    pdf = api.get("sg.reception", f"/api/rmas/{rma['id']}/receipt.pdf").data
    assert _pdf_images(pdf) == [(480, 360)] and len(pdf) < len(big)

    staff = app.test_client()
    with staff.session_transaction() as session:
        staff_session(session, app, "sg.reception")
    html = staff.get(f"/rmas/{rma['id']}/receipt").get_data(as_text=True)
    [src] = re.findall(r'<img src="([^"]+)"', html)
    assert src == f"/rmas/{rma['id']}/photos/{stored['sha256']}/thumbnail"
    shown = staff.get(src)
    body = shown.get_data()
    shown.close()
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg" and body == thumbs[0].read_bytes()

    thumbs[0].unlink()  # a photo stored before thumbnails were made: its thumbnail is made once, when first shown
    customer = app.test_client().get(f"/track/{rma['tracking_token']}/receipt.pdf")
    assert customer.status_code == 200 and _pdf_images(customer.data) == [(480, 360)] and thumbs[0].exists()
