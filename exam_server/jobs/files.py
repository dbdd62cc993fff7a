"""Where jobs keep files: each job writes only into its own folder, uploads wait in a folder of their own.

JOBS_DIR/<job id>/ holds what a job writes (its result file and any scratch files); JOBS_UPLOAD_DIR holds files
uploaded for a job, named by a random token, and deleted once the job has finished. The two never nest, and
`ensure_apart` refuses a job whose folder would lie inside a folder it reads: an archive written inside the
folder being archived grows until the disk is full (issue 13, finding 1).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from item_bank.kernel import DomainError

log = logging.getLogger(__name__)

# A file name a job may give its result: no folders, no leading dot, nothing a shell or a browser reads specially.
_PLAIN_NAME = re.compile(r"^[^/\\\x00-\x1f:*?\"<>|.][^/\\\x00-\x1f:*?\"<>|]{0,199}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}(\.[A-Za-z0-9]{1,10})?$")


class JobFilesRefused(DomainError):
    """A job asked to write or read a file where jobs may not."""

    default_code = "job_files_refused"
    default_status = 400


def jobs_dir(config: dict[str, Any], instance_path: str) -> Path:
    """JOBS_DIR, or instance/jobs/files."""
    return Path(config.get("JOBS_DIR") or Path(instance_path) / "jobs" / "files").resolve()


def upload_dir(config: dict[str, Any], instance_path: str) -> Path:
    """JOBS_UPLOAD_DIR, or instance/jobs/uploads."""
    return Path(config.get("JOBS_UPLOAD_DIR") or Path(instance_path) / "jobs" / "uploads").resolve()


def is_within(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies inside it, after resolving links and `..`."""
    return path.resolve().is_relative_to(folder.resolve())


def ensure_apart(written: Path, read: Path) -> None:
    """Refuse a folder written into that is, contains or lies inside a folder read."""
    if is_within(written, read) or is_within(read, written):
        raise JobFilesRefused(f"任务的输出目录 {written} 与读取的目录 {read} 重叠，已拒绝执行。")


def plain_name(name: str) -> str:
    """`name` if it is a bare file name (no folders, no leading dot); otherwise refused."""
    if not _PLAIN_NAME.match(name or ""):
        raise JobFilesRefused(f"文件名 {name!r} 不合规：只能是不含目录的普通文件名。")
    return name


def workdir(root: Path, job_id: int) -> Path:
    """The job's own folder, emptied: a database reset may reuse an id whose old files are still there."""
    path = root / str(int(job_id))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def result_path(root: Path, job_id: int, name: str) -> Path | None:
    """The stored result file of a job, if it is still there."""
    path = root / str(int(job_id)) / plain_name(name)
    return path if path.is_file() else None


def stash_upload(folder: Path, stream: IO[bytes], suffix: str = "") -> str:
    """Save an uploaded file under a random token (plus `suffix`, e.g. ".xlsx"); returns the token for params["upload"]."""
    suffix = suffix.lower()
    if suffix and not re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
        raise JobFilesRefused(f"不支持的文件类型 {suffix}。")
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24) + suffix
    with open(folder / token, "xb") as out:  # exclusive: never overwrite another upload
        shutil.copyfileobj(stream, out, 1024 * 1024)
    return token


def upload_path(folder: Path, token: str) -> Path:
    """The stashed upload named by `token`; refused unless it is a token `stash_upload` could have made."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise JobFilesRefused("上传文件的标识无效。")
    path = folder / token
    if not path.is_file():
        raise JobFilesRefused("上传的文件已不存在，请重新上传。")
    return path


def discard_uploads(folder: Path, tokens: str | Iterable[str] | None) -> None:
    """Delete the uploads a finished job was given. Only tokens inside the upload folder: a job's params never
    name a file elsewhere on the server to delete."""
    if not tokens:
        return
    for token in [tokens] if isinstance(tokens, str) else tokens:
        if not isinstance(token, str) or not _TOKEN.match(token):
            log.warning("job upload %r is not an upload token; left alone", token)
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / token)
