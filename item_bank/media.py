"""Images of items and item sets: checked (a real image, not too large) and stored once by content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.kernel.errors import DomainError
from item_bank.models import MediaFile

MAX_MEDIA_BYTES = 2 * 1024 * 1024
# File signatures: an upload must be what its name says.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


class MediaError(DomainError):
    """An image that cannot be stored, with the reason."""

    default_code = "media_refused"
    default_status = 400


def check_image(name: str, data: bytes, max_bytes: int = MAX_MEDIA_BYTES) -> str:
    """The image's MIME type; MediaError if it is too large, empty, or not the image its name says."""
    mime = MIME_BY_SUFFIX.get(Path(name).suffix.lower())
    if mime is None:
        raise MediaError(f"图片 {name} 不是支持的格式（png / jpg / gif / webp）")
    if not data:
        raise MediaError(f"图片 {name} 是空文件")
    if len(data) > max_bytes:
        raise MediaError(
            f"图片 {name} 大小 {len(data) / 1024 / 1024:.1f} MB 超过上限 {max_bytes / 1024 / 1024:.1f} MB"
        )
    if not any(data.startswith(sig) for sig in SIGNATURES[mime]):
        raise MediaError(f"文件 {name} 的内容不是 {mime} 图片")
    return mime


def save_media(session: Session, name: str, data: bytes, max_bytes: int = MAX_MEDIA_BYTES) -> dict[str, Any]:
    """Store an uploaded image (once per content) and return the reference versions keep."""
    mime = check_image(name, data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    if session.scalar(select(MediaFile.id).where(MediaFile.sha256 == digest)) is None:
        session.add(
            MediaFile(sha256=digest, name=Path(name).name[:200], mime=mime, size=len(data), data=data)
        )
        session.flush()
    return {"sha256": digest, "name": Path(name).name, "mime": mime, "size": len(data)}


def get_media(session: Session, digest: str) -> MediaFile | None:
    return session.scalar(select(MediaFile).where(MediaFile.sha256 == digest))


def file_inside(base: Path | None, name: str) -> Path:
    """The file `name` names inside the folder `base` of an imported file.

    An import may only bring images that travel with it: an absolute path, a `..` step, or a link that leads
    out of the folder would let a file name any file the server can read.
    """
    relative = Path(name.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or name.startswith(("/", "\\")) or ":" in name:
        raise MediaError(f"图片路径 {name} 无效：只能写导入文件所在文件夹内的相对路径")
    root = (base or Path.cwd()).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise MediaError(f"图片路径 {name} 指向导入文件夹之外")
    return path
