"""Photos of returned goods, from the buyer's portal and the receiving bench.

A photo is judged by its content, never its name: Pillow must open it as JPEG, PNG, HEIC or
WebP. It is then drawn again from its pixels alone (turned upright first, as its EXIF
orientation says), so no EXIF, GPS position, XMP, ICC profile or comment reaches storage; a
HEIC photo is stored as a JPEG, which every browser shows. A return holds at most
``MAX_PER_RETURN`` photos of at most ``MAX_BYTES`` each.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import models
from ..errors import NotFound, ValidationError
from ..files import FileStore

MAX_BYTES = 10 * 1024 * 1024
MAX_PER_RETURN = 5
MAX_PIXELS = 50_000_000  # a 50-megapixel photo is larger than any phone takes

# what Pillow calls each accepted format: the upload's content type, and how it is stored
_ACCEPTED = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "HEIF": "image/heic",
    "WEBP": "image/webp",
}
_STORED_AS = {"JPEG": "JPEG", "PNG": "PNG", "HEIF": "JPEG", "WEBP": "WEBP"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class CleanImage:
    """A photo drawn again from its pixels: the bytes to store and what they are."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@cache
def _heif_registered() -> bool:
    """Teach Pillow to open HEIC (once per process)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return True


def _open(data: bytes) -> Image.Image:
    """The image in ``data``, loaded; ValidationError naming what is wrong otherwise."""
    if not data:
        raise ValidationError("photo", "the file is empty")
    if len(data) > MAX_BYTES:
        raise ValidationError(
            "photo", f"the file is {len(data) / 1048576:.1f} MiB; a photo may be at most 10 MiB"
        )
    _heif_registered()
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise ValidationError(
            "photo", "the file is not an image: send a JPEG, PNG, HEIC or WebP photo"
        ) from None
    if image.format not in _ACCEPTED:
        raise ValidationError(
            "photo", f"{image.format} images are not accepted: send JPEG, PNG, HEIC or WebP"
        )
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValidationError("photo", f"the image is {width}×{height} pixels, over 50 megapixels")
    try:
        # verify() reads the whole file and refuses a damaged or cut-off one whatever
        # ImageFile.LOAD_TRUNCATED_IMAGES says (some libraries set it for the whole process);
        # a verified image must then be opened again to be loaded
        image.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError("photo", "the image is damaged and cannot be read") from None
    return image


def validate_image(data: bytes) -> tuple[str, int, int]:
    """The photo's content type (by content) and its size in pixels, or ValidationError."""
    image = _open(data)
    width, height = image.size
    return _ACCEPTED[str(image.format)], width, height


def clean_image(data: bytes) -> CleanImage:
    """The photo re-encoded from its pixels, upright and without any metadata."""
    image = _open(data)
    target = _STORED_AS[str(image.format)]
    upright = ImageOps.exif_transpose(image)
    if target == "JPEG":
        mode = "L" if upright.mode in ("L", "I;16", "I", "1") else "RGB"
    else:
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        mode = "RGBA" if has_alpha else "RGB"
    pixels = upright.convert(mode)
    # a new image from the pixels alone: nothing of the original's info travels with it
    bare = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if target == "JPEG":
        bare.save(out, "JPEG", quality=90, optimize=True)
    elif target == "PNG":
        bare.save(out, "PNG", optimize=True)
    else:
        bare.save(out, "WEBP", quality=90)
    return CleanImage(
        out.getvalue(), _CONTENT_TYPES[target], _EXTENSIONS[target], bare.width, bare.height
    )


def store_photo(
    session: Session,
    files: FileStore,
    return_id: int,
    line_id: int | None,
    data: bytes,
    uploaded_by: str,
) -> models.ReturnPhoto:
    """Check, strip and store a photo of a return (of one of its lines when ``line_id`` is
    given). ValidationError names what is wrong: the file, the line, or one photo too many."""
    return_ = session.get(models.Return, return_id)
    if return_ is None:
        raise NotFound(f"return {return_id} does not exist")
    if line_id is not None and not any(line.id == line_id for line in return_.lines):
        raise ValidationError("return_line_id", f"return {return_.rma} has no line {line_id}")
    held = session.scalar(
        select(func.count(models.ReturnPhoto.id)).where(models.ReturnPhoto.return_id == return_id)
    )
    if (held or 0) >= MAX_PER_RETURN:
        raise ValidationError(
            "photo", f"return {return_.rma} has {held} photos already; {MAX_PER_RETURN} is the most"
        )
    clean = clean_image(data)
    name = f"photos/{return_.rma or return_.id}/{secrets.token_hex(8)}.{clean.extension}"
    photo = models.ReturnPhoto(
        return_id=return_id,
        return_line_id=line_id,
        path=files.write(name, clean.data),
        content_type=clean.content_type,
        width=clean.width,
        height=clean.height,
        uploaded_by=uploaded_by,
    )
    session.add(photo)
    session.flush()
    return photo


def photo_counts(session: Session, return_id: int) -> dict[int | None, int]:
    """How many photos each line of a return has (``None``: of the parcel as a whole)."""
    rows = session.execute(
        select(models.ReturnPhoto.return_line_id, func.count(models.ReturnPhoto.id))
        .where(models.ReturnPhoto.return_id == return_id)
        .group_by(models.ReturnPhoto.return_line_id)
    )
    return {line_id: int(count) for line_id, count in rows}
