"""ID photos (证件照): a JPEG or PNG checked by its signature, its size in bytes and in pixels, stored once; a
unit's zip of them named by ID number, read through the bounded zip reader.

`check_photo` reuses the bank's image check (item_bank/media.py: the name's kind, empty, too large, the signature)
and then reads only the image's header (Pillow, lazily) for its pixel size: a photo smaller than a face can be
seen in, or so large it could only be a decompression bomb, is refused before anything decodes it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.applications.models import ApplicantPhoto
from item_bank.archives import MB, ArchiveLimits, SafeZip
from item_bank.kernel import DomainError
from item_bank.media import MediaError, check_image

MAX_PHOTO_BYTES = 2 * 1024 * 1024
MIN_SIDE = 100
MAX_SIDE = 4000
PHOTO_TYPES = ("image/jpeg", "image/png")
# A unit's zip of photos named by ID number: a member larger than a photo may be is refused with its name.
PHOTO_ARCHIVE_LIMITS = ArchiveLimits(members=20_000, member_bytes=MAX_PHOTO_BYTES + 1, total_bytes=512 * MB)


class PhotoError(DomainError):
    default_code = "photo_refused"
    default_status = 400


@dataclass(frozen=True)
class CheckedPhoto:
    mime: str
    width: int
    height: int
    data: bytes


def check_photo(name: str, data: bytes) -> CheckedPhoto:
    """The photo's type and pixel size; PhotoError (Chinese, naming the file) if it may not be stored."""
    try:
        mime = check_image(name, data, MAX_PHOTO_BYTES)
    except MediaError as exc:
        raise PhotoError(f"证件照：{exc.message}") from None
    if mime not in PHOTO_TYPES:
        raise PhotoError(f"证件照 {name} 须为 JPEG 或 PNG 图片")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                width, height = image.size
                kind = image.format
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise PhotoError(f"证件照 {name} 无法识别为图片（文件已损坏或不是图片）") from None
    if kind not in ("JPEG", "PNG") or {"JPEG": "image/jpeg", "PNG": "image/png"}[kind] != mime:
        raise PhotoError(f"证件照 {name} 的内容与文件类型不符")
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        raise PhotoError(
            f"证件照 {name} 为 {width}×{height} 像素，须在 {MIN_SIDE}–{MAX_SIDE} 像素之间（宽和高）")
    return CheckedPhoto(mime, width, height, data)


def store_photo(session: Session, name: str, data: bytes) -> ApplicantPhoto:
    """Check and store a photo (once per content), in the caller's transaction."""
    checked = check_photo(name, data)
    digest = hashlib.sha256(data).hexdigest()
    photo = session.scalar(select(ApplicantPhoto).where(ApplicantPhoto.sha256 == digest))
    if photo is None:
        photo = ApplicantPhoto(sha256=digest, mime=checked.mime, width=checked.width, height=checked.height,
                               size=len(data), data=data)
        session.add(photo)
        session.flush()
    return photo


def read_photo_archive(path: Path, *, name: str | None = None) -> list[tuple[str, bytes]]:
    """The photos of a zip (`<身份证号>.jpg` / `.png`, in any folder), read through the bounded reader
    (item_bank/archives.py SafeZip); ArchiveError if the archive itself is refused. Hidden files and the folders
    macOS adds are skipped."""
    photos = []
    with SafeZip(path, name=name or path.name, limits=PHOTO_ARCHIVE_LIMITS) as zf:
        for member in zf.namelist():
            base = PurePosixPath(member).name
            if not base or base.startswith(".") or member.startswith("__MACOSX/"):
                continue
            photos.append((member, zf.read(member)))
    return photos
