"""A centre's signed period file: its figures as JSON, signed with the centre's Ed25519 key.

The file is one JSON object:

    {"format": "baoan-centre-report/1", "centre": "C001", "key": "<fingerprint>",
     "payload": "<the figures as JSON text>", "signature": "<base64 Ed25519 signature of the payload's UTF-8>"}

The payload is carried as text so the bytes signed are the bytes verified (no re-serialisation in between).
The centre's private key is made once and kept in the instance folder (REPORT_KEYS_DIR, default
instance/report_keys/<centre code>.pem, readable by its owner only); the province holds only public keys
(models.CentreReportKey), registered by hand from what the centre's operator reads out (`examctl
centre-public-key`), never taken from the file itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exam_server.core import signing as keys
from exam_server.reports.figures import ReportError

FILE_FORMAT = "baoan-centre-report/1"
# A period file of a large centre is a few hundred kilobytes; anything this big is not one.
MAX_FILE_BYTES = 8 * 1024 * 1024
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def keys_dir(config: dict[str, Any], instance_path: str) -> Path:
    """REPORT_KEYS_DIR, or instance/report_keys."""
    return Path(config.get("REPORT_KEYS_DIR") or Path(instance_path) / "report_keys")


def _key_path(folder: Path, centre_code: str) -> Path:
    if not _CODE.match(centre_code):
        raise ReportError(f"鉴定中心代码 {centre_code!r} 不能用作密钥文件名。")
    return folder / f"{centre_code}.pem"


def centre_key(folder: Path, centre_code: str) -> Ed25519PrivateKey:
    """The centre's signing key, made (and saved, owner-readable only) the first time it is asked for."""
    try:
        return keys.key_at(_key_path(folder, centre_code))
    except keys.SigningError as exc:
        raise ReportError(exc.message) from None


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as the province registers it (`ed25519:` + base64 of its 32 bytes)."""
    return keys.public_key_text(key.public_key() if isinstance(key, Ed25519PrivateKey) else key)


def parse_public(text: str) -> tuple[str, str]:
    """(normalised text, fingerprint) of a public key as typed or pasted; refused with a reason if it is not one."""
    try:
        public = keys.parse_public_key("".join((text or "").split()))
    except keys.SigningError:
        raise ReportError("公钥无效：应为鉴定中心 `examctl centre-public-key` 打印的一行（ed25519: 加 Base64）。",
                          field="公钥") from None
    return keys.public_key_text(public), keys.fingerprint(public)


def canonical(figures: dict[str, Any]) -> str:
    return json.dumps(figures, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def sign(figures: dict[str, Any], centre_code: str, key: Ed25519PrivateKey) -> bytes:
    """The signed file's bytes."""
    payload = canonical(figures)
    envelope = {"format": FILE_FORMAT, "centre": centre_code, "key": keys.fingerprint(key.public_key()),
                "payload": payload,
                "signature": base64.b64encode(key.sign(payload.encode("utf-8"))).decode()}
    return json.dumps(envelope, ensure_ascii=False, indent=1).encode("utf-8")


def read_file(path: Path, name: str = "") -> dict[str, Any]:
    """The envelope of a signed file, read no further than MAX_FILE_BYTES; refused with the file named when it is
    too big, not JSON or not a centre report."""
    name = name or path.name
    with path.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    return parse_envelope(data, name)


def parse_envelope(data: bytes, name: str) -> dict[str, Any]:
    if len(data) > MAX_FILE_BYTES:
        raise ReportError(f"{name}：文件超过 {MAX_FILE_BYTES // (1024 * 1024)} MB，不是鉴定中心的统计报送文件。")
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReportError(f"{name}：不是有效的 JSON 文件，未导入。") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FILE_FORMAT:
        raise ReportError(f"{name}：不是鉴定中心的统计报送文件（格式应为 {FILE_FORMAT}），未导入。")
    for field in ("centre", "key", "payload", "signature"):
        if not isinstance(envelope.get(field), str) or not envelope[field]:
            raise ReportError(f"{name}：缺少字段 {field}，未导入。", field=field)
    return envelope


def verify(envelope: dict[str, Any], public_key: str, name: str) -> dict[str, Any]:
    """The figures of a file whose signature the registered `public_key` confirms; refused otherwise."""
    try:
        signature = base64.b64decode(envelope["signature"], validate=True)
        keys.verify(public_key, envelope["payload"].encode("utf-8"), signature, what=name)
    except (binascii.Error, ValueError, keys.SigningError):
        raise ReportError(f"{name}：签名校验失败（文件内容被改动过，或不是该鉴定中心登记的密钥签发的），未导入。",
                          code="bad_signature") from None
    try:
        figures = json.loads(envelope["payload"])
    except ValueError:
        raise ReportError(f"{name}：报送内容不是有效的 JSON，未导入。") from None
    if not isinstance(figures, dict) or not isinstance(figures.get("period"), dict):
        raise ReportError(f"{name}：报送内容缺少统计区间，未导入。")
    return figures


def digest(envelope: dict[str, Any]) -> str:
    return hashlib.sha256(envelope["payload"].encode("utf-8")).hexdigest()
