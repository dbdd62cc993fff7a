"""The public keys a node trusts: a centre registers each site's key, a site registers its centre's key.

Where keys live: each node's private key in its own instance folder (signing.py), never in a package, the database
or the repo; only public keys are registered here. Rotation registers the new key and revokes the old one from
that moment; a lost key is revoked the same way (results signed after the revocation are refused, issue 18 §5).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.signing import SigningError, fingerprint, parse_public_key, public_key_text
from exam_server.sessions.models import Site
from exam_server.sitenode.models import KIND_CENTRE, KIND_SITE, TrustedKey
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel import transaction


def active_keys(session: Session, kind: str, code: str | None = None) -> list[TrustedKey]:
    query = select(TrustedKey).where(TrustedKey.kind == kind, TrustedKey.revoked_at.is_(None))
    if code is not None:
        query = query.where(TrustedKey.code == code)
    return list(session.scalars(query.order_by(TrustedKey.id)))


def register_key(session: Session, kind: str, code: str, public_key: str, actor: str,
                 *, replace: bool = True) -> TrustedKey:
    """Register `public_key` for the site `code` (kind "site") or the centre (kind "centre"); with `replace`, the
    keys in force for the same holder are revoked now (rotation). Registering the key in force again changes
    nothing. Commits."""
    key_text = public_key_text(parse_public_key(public_key))
    if kind == KIND_SITE and session.scalar(select(Site.id).where(Site.code == code)) is None:
        raise SigningError(f"没有代码为 {code} 的考点", code="no_such_site", status=404)
    existing = session.scalar(select(TrustedKey).where(TrustedKey.public_key == key_text))
    if existing is not None:
        if existing.kind != kind or existing.code != code:
            raise SigningError(f"该公钥已登记给{'考点' if existing.kind == KIND_SITE else '鉴定中心'} {existing.code}",
                               code="key_taken")
        if existing.revoked_at is not None:
            raise SigningError(f"该公钥已于 {existing.revoked_at:%Y-%m-%d %H:%M} (UTC) 撤销，不能再登记",
                               code="key_revoked")
        return existing
    now = utcnow()
    with transaction(session):
        revoked = []
        if replace:
            for old in active_keys(session, kind, code):
                old.revoked_at = now
                revoked.append(old.fingerprint)
        row = TrustedKey(kind=kind, code=code, public_key=key_text, fingerprint=fingerprint(key_text),
                         registered_at=now, registered_by=actor)
        session.add(row)
        session.flush()
        audit(session, actor, "register_node_key", "trusted_key", row.id,
              after={"kind": kind, "code": code, "fingerprint": row.fingerprint, "revoked": revoked})
    return row


def revoke_key(session: Session, fingerprint_text: str, actor: str, at: dt.datetime | None = None) -> TrustedKey:
    """Revoke the key with this fingerprint from `at` (now by default). Commits."""
    row = session.scalar(select(TrustedKey).where(TrustedKey.fingerprint == fingerprint_text.strip().upper()))
    if row is None:
        raise SigningError(f"没有指纹为 {fingerprint_text} 的已登记公钥", code="no_such_key", status=404)
    with transaction(session):
        row.revoked_at = at or utcnow()
        audit(session, actor, "revoke_node_key", "trusted_key", row.id,
              after={"kind": row.kind, "code": row.code, "fingerprint": row.fingerprint})
    return row


def centre_key(session: Session) -> TrustedKey:
    """At a site: the centre's key in force; refused, naming the command, when none is registered."""
    keys = active_keys(session, KIND_CENTRE)
    if not keys:
        raise SigningError("本考点尚未登记鉴定中心的公钥，请先运行 examctl site trust-centre --public-key …",
                           code="no_centre_key")
    return keys[-1]
