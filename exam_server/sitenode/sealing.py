"""The sealed paper: a release secret the centre keeps, the release code people type, and the AES-256-GCM
encryption of the paper under a key derived from the secret.

Decision: the release code *is* the secret, so a site holds nothing that opens the paper before the centre reads
the code out at the start (by phone, or typed by the chief proctor from a sealed envelope). It is 6 groups of 5
characters of Crockford's base32 (no I, L, O, U; case and those look-alikes forgiven): 25 carry 125 random bits,
the last 5 are a check, so a typing slip is told apart from a code of another sitting. The key is HKDF-SHA256 of
the secret bound to the sitting and site codes; the same secret serves every package of one sitting and site.
"""

from __future__ import annotations

import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from item_bank.kernel import DomainError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SECRET_CHARS, CHECK_CHARS, GROUP = 25, 5, 5
_NONCE = 12
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


class ReleaseCodeError(DomainError):
    """A release code that is malformed, mistyped, or not this sitting's."""

    default_code = "release_code"
    default_status = 400


def new_secret() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS))


def _check(secret: str) -> str:
    digest = int.from_bytes(hashlib.sha256(b"release-code check v1|" + secret.encode()).digest()[:4], "big")
    return "".join(ALPHABET[(digest >> (5 * i)) & 31] for i in range(CHECK_CHARS))


def release_code(secret: str) -> str:
    """The code to read out: the secret and its check, in groups of five."""
    text = secret + _check(secret)
    return "-".join(text[i:i + GROUP] for i in range(0, len(text), GROUP))


def parse_release_code(code: str) -> str:
    """The secret in a typed code; refused, saying how, if it is malformed or mistyped."""
    text = "".join(ch for ch in (code or "").upper() if ch not in " -_").translate(_LOOKALIKES)
    if len(text) != SECRET_CHARS + CHECK_CHARS:
        raise ReleaseCodeError(f"解封码应为 {SECRET_CHARS + CHECK_CHARS} 个字符（6 组，每组 5 个），实为 {len(text)} 个",
                               code="release_code_length")
    bad = sorted({ch for ch in text if ch not in ALPHABET})
    if bad:
        raise ReleaseCodeError(f"解封码含有无效字符：{'、'.join(bad)}", code="release_code_chars")
    secret, check = text[:SECRET_CHARS], text[SECRET_CHARS:]
    if _check(secret) != check:
        raise ReleaseCodeError("解封码校验不符：可能抄错或输错了某个字符，请核对后重新输入", code="release_code_check")
    return secret


def _key(secret: str, sitting_code: str, site_code: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"exam-server paper key v1",
                info=f"{sitting_code}|{site_code}".encode())
    return hkdf.derive(secret.encode())


def seal_paper(data: bytes, secret: str, sitting_code: str, site_code: str) -> bytes:
    """nonce + AES-256-GCM ciphertext of `data`, bound to the sitting and site."""
    nonce = os.urandom(_NONCE)
    aad = f"{sitting_code}|{site_code}".encode()
    return nonce + AESGCM(_key(secret, sitting_code, site_code)).encrypt(nonce, data, aad)


def open_paper(blob: bytes, secret: str, sitting_code: str, site_code: str) -> bytes:
    """The paper sealed in `blob`; refused when the secret is not the one it was sealed with."""
    aad = f"{sitting_code}|{site_code}".encode()
    try:
        return AESGCM(_key(secret, sitting_code, site_code)).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except InvalidTag as exc:
        raise ReleaseCodeError(f"解封码与考试场次 {sitting_code}（考点 {site_code}）的试卷不符，试卷未解封",
                               code="release_code_wrong") from exc
