"""The one way the bank opens a zip it was given (a QTI package, an .xlsx workbook): with limits.

A zip's central directory is written by whoever made the file, so nothing in it is trusted: a 10 MB
upload can declare (or hide) 10 GB of zeros, a member can be named ``../../etc/x`` or be a symlink.
`SafeZip` checks the directory before any member is decompressed (member count, names, declared sizes,
compression ratio) and reads members as a stream that stops at the limits whatever the header says, so
memory and time stay bounded by the limits, not by the file.

    with SafeZip(path, name="题库.zip") as zf:       # ArchiveError (Chinese, names the member) if hostile
        data = zf.read("imsmanifest.xml")

    check_archive(path, name="题库.xlsx")            # before a library (openpyxl) opens the zip itself
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from item_bank.kernel.errors import DomainError

MB = 1024 * 1024
CHUNK = 64 * 1024
#: The code of the refusal of a file that is no zip at all (a reader may word that in its own format's terms).
NOT_A_ZIP = "not_a_zip"
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # a first member's local header, or an empty archive


class ArchiveError(DomainError):
    """A zip refused before or while it was read; the message names the file and, where known, the member."""

    default_code = "archive_refused"
    default_status = 400

    def __init__(
        self, message: str, *, file: str, member: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code, file=file, member=member)
        self.file = file
        self.member = member


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one archive may hold. The defaults fit a QTI package of a whole bank with its images and a
    workbook of tens of thousands of rows; tests pass small ones."""

    members: int = 20_000
    member_bytes: int = 64 * MB
    total_bytes: int = 256 * MB
    #: Uncompressed / compressed. XML compresses 10-30x; zeros compress ~1000x. Members smaller than
    #: `ratio_floor` are not held to it (a tiny file's ratio says nothing).
    ratio: float = 200.0
    ratio_floor: int = 1 * MB


DEFAULT_LIMITS = ArchiveLimits()


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n} 字节"


def member_name_problem(name: str) -> str | None:
    """Why a member name may not be used (absolute, `..`, a drive, a NUL), or None."""
    if not name or "\x00" in name:
        return "成员名为空或含非法字符"
    unified = name.replace("\\", "/")
    path = PurePosixPath(unified)
    if unified.startswith("/") or path.is_absolute():
        return "成员名是绝对路径"
    if ":" in path.parts[0]:
        return "成员名含盘符"
    if ".." in path.parts:
        return "成员名含 .. （指向包外）"
    return None


class SafeZip:
    """A zip opened for reading within `limits`; every refusal is an ArchiveError naming `name`."""

    def __init__(self, path: Path | str, *, name: str | None = None, limits: ArchiveLimits = DEFAULT_LIMITS):
        self.path = Path(path)
        self.name = name or self.path.name
        self.limits = limits
        try:
            with self.path.open("rb") as fh:
                head = fh.read(4)
            # zipfile finds a zip's directory at the end and accepts anything before the first member, so an
            # image or a page with a zip appended (a polyglot) would pass as a package: a zip starts as a zip.
            if head not in ZIP_STARTS:
                raise zipfile.BadZipFile("文件开头不是 zip 签名")
            self._zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise ArchiveError(
                f"文件 {self.name} 不是有效的 zip 压缩包: {exc}", file=self.name, code=NOT_A_ZIP
            ) from exc
        try:
            self.infos = self._check_directory()
        except ArchiveError:
            self._zf.close()
            raise

    def refuse(self, reason: str, member: str | None = None) -> ArchiveError:
        where = f"文件 {self.name} 的成员 {member}" if member else f"文件 {self.name}"
        return ArchiveError(f"{where}：{reason}，已拒绝导入", file=self.name, member=member)

    def _check_directory(self) -> dict[str, zipfile.ZipInfo]:
        limits = self.limits
        infos = self._zf.infolist()
        if len(infos) > limits.members:
            raise self.refuse(f"包含 {len(infos)} 个成员，超过上限 {limits.members} 个")
        files: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            member = info.filename
            problem = member_name_problem(member)
            if problem:
                raise self.refuse(problem, member)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise self.refuse("是符号链接", member)
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise self.refuse("已加密", member)
            if member in files:
                raise self.refuse("在包中出现了两次", member)
            if info.file_size > limits.member_bytes:
                raise self.refuse(
                    f"解压后 {_size(info.file_size)}，超过单个成员上限 {_size(limits.member_bytes)}", member
                )
            # Deflate never grows data by more than a few bytes per 16 KB block, so a member whose
            # compressed bytes far exceed its declared size hides what it really expands to.
            if info.compress_size > info.file_size + info.file_size // 100 + 1024:
                raise self.refuse(
                    f"声明的解压大小 {_size(info.file_size)} 小于压缩数据 {_size(info.compress_size)}，文件头不可信",
                    member,
                )
            if info.file_size >= limits.ratio_floor and info.file_size > limits.ratio * max(
                info.compress_size, 1
            ):
                raise self.refuse(
                    f"压缩比 {info.file_size / max(info.compress_size, 1):.0f} 倍，超过上限 {limits.ratio:.0f} 倍"
                    "（疑似压缩炸弹）",
                    member,
                )
            total += info.file_size
            if total > limits.total_bytes:
                raise self.refuse(f"解压后总大小超过上限 {_size(limits.total_bytes)}")
            files[member] = info
        return files

    def namelist(self) -> list[str]:
        """The file members (directories left out), in archive order."""
        return list(self.infos)

    def file_size(self, member: str) -> int:
        return self.infos[member].file_size

    def read(self, member: str) -> bytes:
        """The member's bytes, decompressed as a stream that stops at the limits (see `chunks`)."""
        return b"".join(self.chunks(member))

    def chunks(self, member: str) -> Iterator[bytes]:
        """The member's bytes in pieces, stopping at its limit whatever its header says.

        The count is of bytes actually produced, so a header that understates a member cannot get more than
        the limits through; a member that is not what its header says (size, CRC) is refused.
        """
        info = self.infos.get(member)
        if info is None:
            raise self.refuse("不存在", member)
        cap = min(self.limits.member_bytes, info.file_size)
        got = 0
        try:
            with self._zf.open(info) as stream:
                while True:
                    chunk = stream.read(min(CHUNK, cap - got + 1))
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > cap:
                        raise self.refuse(
                            f"实际解压超过 {_size(cap)}（声明 {_size(info.file_size)}）", member
                        )
                    yield chunk
        except zipfile.BadZipFile as exc:
            # zipfile stops at the declared size and then finds the CRC wrong: the header understated the member.
            raise self.refuse(
                "数据与文件头不符（实际内容超出声明的大小或校验值不对，疑似压缩炸弹或文件已损坏）", member
            ) from exc
        except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise self.refuse(f"无法解压（{exc.__class__.__name__}）", member) from exc
        except zlib.error as exc:
            # A byte changed inside deflated data breaks the stream before the CRC check can say so.
            raise self.refuse("压缩数据已损坏，无法解压（文件在传输中被改动或已损坏）", member) from exc
        if got != info.file_size:
            raise self.refuse(f"实际解压 {_size(got)}，与声明的 {_size(info.file_size)} 不符", member)

    def verify(self) -> None:
        """Decompress every member within the limits, keeping nothing (for a zip another library will open)."""
        for member in self.infos:
            for _ in self.chunks(member):
                pass

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def check_archive(
    path: Path | str, *, name: str | None = None, limits: ArchiveLimits = DEFAULT_LIMITS
) -> None:
    """Refuse (ArchiveError) a zip that another library is about to open itself, e.g. openpyxl an .xlsx.

    Every member is decompressed within the limits and dropped, so the library can then read no more than
    the checked declared sizes (Python's zipfile stops a member at its declared size and checks its CRC).
    """
    with SafeZip(path, name=name, limits=limits) as zf:
        zf.verify()



NOT_A_WORKBOOK = "不是有效的 Excel 文件（.xlsx），无法打开"


def open_workbook(path: Path | str, *, name: str | None = None, limits: ArchiveLimits = DEFAULT_LIMITS) -> Workbook:
    """An uploaded .xlsx opened read-only, after `check_archive` has read it within `limits` (a workbook can be
    a zip bomb): the one way the project opens a workbook it did not write. openpyxl then parses its XML through
    defusedxml. Formulas are read as formulas, not their cached values, so that readers can refuse them.
    Raises ArchiveError; a file that is no workbook at all has code NOT_A_ZIP (say NOT_A_WORKBOOK to the user)."""
    label = name or Path(path).name
    check_archive(path, name=label, limits=limits)
    try:
        return load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ArchiveError(f"{label}：{NOT_A_WORKBOOK}（{exc.__class__.__name__}）", file=label,
                           code=NOT_A_ZIP) from exc
