"""Ed25519 keys and signatures: the node's own key pair, the checks made with a registered public key, and the
helpers every signed file of the project uses (site packages, results packages, a centre's report files).

Each node (the centre, every site) keeps one key pair in its instance folder, never in a package or the repo:
`node_ed25519.key` (PKCS#8 PEM, mode 0600) and `node_ed25519.pub` (the public key as text). A public key travels
as text, `ed25519:` + base64 of its 32 raw bytes, and is shown to people by its fingerprint (read out over the
phone when a centre registers a site, so it is short and grouped).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

from item_bank.kernel import DomainError

KEY_PREFIX = "ed25519:"
PRIVATE_KEY_FILE = "node_ed25519.key"
PUBLIC_KEY_FILE = "node_ed25519.pub"
SIGNATURE_BYTES = 64


class SigningError(DomainError):
    """A key is missing or malformed, or a signature does not verify; the message says which."""

    default_code = "signing"
    default_status = 400


def key_dir(config: Mapping[str, Any], instance_path: str | Path) -> Path:
    """The folder of this node's keys: NODE_KEY_DIR if set, else the instance folder."""
    return Path(config.get("NODE_KEY_DIR") or instance_path)


def node_folder() -> Path:
    """The running app's key folder (what every `instance_path` argument below should be given)."""
    return key_dir(current_app.config, current_app.instance_path)


def key_paths(instance_path: str | Path) -> tuple[Path, Path]:
    """Where this node's private and public key files live."""
    folder = Path(instance_path)
    return folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE


def has_node_key(instance_path: str | Path) -> bool:
    return key_paths(instance_path)[0].exists()


def generate_node_key(instance_path: str | Path, *, replace: bool = False) -> Ed25519PublicKey:
    """Create this node's key pair in the instance folder and return its public key.

    An existing key is kept unless `replace` (rotation): overwriting by accident would orphan every package
    signed with it.
    """
    private_path, public_path = key_paths(instance_path)
    if private_path.exists() and not replace:
        raise SigningError(f"本节点已有密钥（{private_path}）；如需更换请明确要求轮换", code="node_key_exists")
    private_key = Ed25519PrivateKey.generate()
    _write_private_key(private_path, private_key, replace=True)
    public_key = private_key.public_key()
    public_path.write_text(public_key_text(public_key) + "\n", encoding="utf-8")
    return public_key


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private_key(path: Path, key: Ed25519PrivateKey, *, replace: bool) -> bool:
    """Write `key` to `path` through a 0600 descriptor, so it is never readable by others, not even for a moment.
    Without `replace`, a key already there wins (two processes making one at once keep the first): False then."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not replace:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(_pem(key))
        return True
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_pem(key))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file `path`; refused with the file named if it is not one."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"私钥文件 {path} 无法读取：{exc}", code="bad_node_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"私钥文件 {path} 不是 Ed25519 私钥", code="bad_node_key")
    return key


def key_at(path: Path) -> Ed25519PrivateKey:
    """The private key kept at `path`, made (owner-readable only) the first time it is asked for."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        if _write_private_key(path, key, replace=False):
            return key
    return read_private_key(path)


def load_private_key(instance_path: str | Path) -> Ed25519PrivateKey:
    """This node's private key; refused, naming the command to run, when none was generated."""
    private_path, _ = key_paths(instance_path)
    if not private_path.exists():
        raise SigningError(f"本节点还没有密钥（{private_path}）；请先运行 examctl site keygen", code="no_node_key")
    return read_private_key(private_path)


def load_public_key(instance_path: str | Path) -> Ed25519PublicKey:
    """This node's own public key (derived from the private key, so the two can never disagree)."""
    return load_private_key(instance_path).public_key()


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as one line of text: `ed25519:` + base64 of the 32 raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its text form (the prefix is optional); refused with the reason if malformed."""
    value = (text or "").strip()
    if value.startswith(KEY_PREFIX):
        value = value[len(KEY_PREFIX):]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningError("公钥格式不正确：不是有效的 base64 文本", code="bad_public_key") from exc
    if len(raw) != 32:
        raise SigningError(f"公钥格式不正确：应为 32 字节，实为 {len(raw)} 字节", code="bad_public_key")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(key: Ed25519PublicKey | str) -> str:
    """A short display form of a public key: the first 80 bits of SHA-256 over its raw bytes, in 4 groups."""
    if isinstance(key, str):
        key = parse_public_key(key)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()[:20].upper()
    return "-".join(digest[i:i + 5] for i in range(0, 20, 5))


def sign(private_key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `data`."""
    return private_key.sign(data)


def verify(public_key: Ed25519PublicKey | str, data: bytes, signature: bytes, *, what: str = "数据包") -> None:
    """Nothing if `signature` is `public_key`'s over `data`; otherwise a SigningError naming `what`."""
    if isinstance(public_key, str):
        public_key = parse_public_key(public_key)
    if len(signature) != SIGNATURE_BYTES:
        raise SigningError(f"{what}的签名长度不正确（{len(signature)} 字节）", code="bad_signature")
    try:
        public_key.verify(signature, data)
    except InvalidSignature as exc:
        raise SigningError(
            f"{what}的签名与登记的公钥（指纹 {fingerprint(public_key)}）不符：内容被改动过，或不是由该密钥签名",
            code="bad_signature",
        ) from exc
