"""Photos are judged by content, drawn again from their pixels alone, and stored upright: no
EXIF, GPS, XMP, ICC profile or comment survives, and a HEIC photo becomes a JPEG."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from connector.errors import ValidationError
from connector.services.photos import MAX_BYTES, clean_image, validate_image

GPS = 0x8825
ORIENTATION = 0x0112


def _encode(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode != "L" else 128).save(out, fmt, **save)
    return out.getvalue()


def _heic() -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return _encode("HEIF")


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (_encode("JPEG"), "image/jpeg"),
        (_encode("PNG"), "image/png"),
        (_encode("WEBP"), "image/webp"),
        (_heic(), "image/heic"),
    ],
    ids=["jpeg", "png", "webp", "heic"],
)
def test_the_four_accepted_formats_are_told_by_their_content(data: bytes, content_type: str):
    assert validate_image(data) == (content_type, 40, 30)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"GIF89a but not really", "not an image"),
        (b"%PDF-1.7 a document", "not an image"),
        (_encode("GIF"), "GIF images are not accepted"),
        (_encode("BMP"), "BMP images are not accepted"),
        (_encode("PNG")[:60], "damaged"),
        (_encode("PNG") + b"\0" * MAX_BYTES, "at most 10 MiB"),
    ],
    ids=["empty", "text", "pdf", "gif", "bmp", "truncated", "too-large"],
)
def test_anything_else_is_refused_saying_why(data: bytes, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        validate_image(data)


def test_a_jpeg_loses_every_piece_of_metadata() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(GPS).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">where I live</x:xmpmeta>'
    data = _encode("JPEG", exif=exif, comment=b"my flat", xmp=xmp, icc_profile=b"\0" * 128)

    clean = clean_image(data)

    image = Image.open(io.BytesIO(clean.data))
    assert clean.content_type == "image/jpeg" and clean.extension == "jpg"
    assert not image.getexif() and not set(image.info) & {"exif", "comment", "xmp", "icc_profile"}
    for secret in (b"PhoneMaker", b"my flat", b"where I live", b"Exif"):
        assert secret not in clean.data


def test_a_png_keeps_its_transparency_and_loses_its_text_chunks() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "someone at home")
    data = _encode("PNG", mode="RGBA", pnginfo=info)

    clean = clean_image(data)

    image = Image.open(io.BytesIO(clean.data))
    assert clean.content_type == "image/png" and image.mode == "RGBA"
    assert "Author" not in image.info and b"someone at home" not in clean.data


def test_a_heic_photo_is_stored_as_a_jpeg() -> None:
    clean = clean_image(_heic())

    assert clean.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(clean.data)).format == "JPEG"


def test_a_photo_taken_sideways_is_stored_upright() -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # the camera was turned: show it rotated 90° clockwise
    data = _encode("JPEG", size=(40, 30), exif=exif)

    clean = clean_image(data)

    assert (clean.width, clean.height) == (30, 40)
    assert ORIENTATION not in Image.open(io.BytesIO(clean.data)).getexif()


def test_a_cut_off_image_is_refused_even_where_pillow_is_told_to_load_them(monkeypatch) -> None:
    """Some libraries (karrio among them) set Pillow's LOAD_TRUNCATED_IMAGES for the whole
    process; the check must not depend on it."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ValidationError, match="damaged"):
        validate_image(_encode("PNG")[:60])
