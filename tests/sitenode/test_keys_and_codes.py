"""Pure pieces of the exchange: node keys, release codes, the site clock's check."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from exam_server.core import signing
from exam_server.sitenode import package, sealing


def test_node_key_is_private_and_signs(tmp_path: Path) -> None:
    public = signing.generate_node_key(tmp_path)
    assert stat.S_IMODE((tmp_path / signing.PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    with pytest.raises(signing.SigningError, match="已有密钥"):
        signing.generate_node_key(tmp_path)
    signature = signing.sign(signing.load_private_key(tmp_path), b"data")
    signing.verify(signing.public_key_text(public), b"data", signature)
    with pytest.raises(signing.SigningError, match="不符"):
        signing.verify(public, b"date", signature)
    assert len(signing.fingerprint(public)) == 23


def test_release_code_round_trip_and_typos() -> None:
    secret = sealing.new_secret()
    code = sealing.release_code(secret)
    assert len(code.split("-")) == 6 and all(len(g) == 5 for g in code.split("-"))
    assert sealing.parse_release_code(code.lower().replace("-", " ")) == secret
    with pytest.raises(sealing.ReleaseCodeError, match="校验不符"):
        sealing.parse_release_code(code[:-1] + ("0" if code[-1] != "0" else "1"))
    with pytest.raises(sealing.ReleaseCodeError, match="30 个字符"):
        sealing.parse_release_code(code[:10])


def test_a_wrong_site_clock_is_flagged() -> None:
    made = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    manifest = {"created_at": made.isoformat(), "window": {"ends_at": (made + dt.timedelta(hours=3)).isoformat()}}
    assert package.clock_warnings(manifest, made + dt.timedelta(hours=1)) == []
    assert "早 60 分钟" in package.clock_warnings(manifest, made - dt.timedelta(hours=1))[0]
    assert "已于" in package.clock_warnings(manifest, made + dt.timedelta(hours=4))[0]
