"""A candidate's login: the admission ticket number (准考证号) and an initial password printed on the ticket (or on a
separate slip when the sitting says so).

Decision: the initial password is generated when the ticket is issued (scheduling) and kept only sealed —
encrypted and authenticated with a key derived from the app's SECRET_KEY (HMAC-SHA256 keystream and tag) — until
the candidate's first successful login. Printing unseals it to draw the ticket, so a reprint shows the same
password and writes nothing. The first login checks the typed password against the sealed one, then stores its
argon2 hash and erases the seal: from then on the server holds no password it could read back, and a ticket
reprinted later shows no password (a candidate who has lost it asks the proctor of their room, or centre staff,
to reset it). A reset makes a new password shown once to the person who reset it, stored only as a hash, and
ends every session the old one had opened (the ticket's session epoch). A database copy without the SECRET_KEY
reveals no password; every reset is in the audit log; no plain password is written to a log or the audit trail.

Decision (issue 17): a ticket password is stored as a keyed hash, HMAC-SHA256 under a key derived from the
SECRET_KEY with a random salt, not argon2. A whole centre (5,000 candidates) logs in within minutes before the
start, and argon2 at the staff setting costs ~50 ms of CPU a login (benchmarks/logins.py); the keyed hash costs
microseconds. It weakens nothing: a ticket password is server-generated, used for one sitting and nowhere else,
and online guessing is bounded by the login throttle, not by the hash. Offline, a database copy without the key
cannot even be tried (argon2 of six digits falls to a brute force of 10^6 guesses); with the key an attacker
already forges any candidate's session cookie and unseals every password not yet used, so a slow hash would
protect nothing more. Like the seal, the hashes depend on the SECRET_KEY: a new key means resetting the tickets'
passwords. Argon2 ticket hashes written before (and by seed code for servers under other keys) still verify and
are rewritten as keyed hashes at that login. Staff passwords stay argon2 (exam_server/core/security.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import update
from sqlalchemy.orm import Session

from exam_server.core.auth import announce_revoked
from exam_server.core.security import hash_password, verify_password
from exam_server.sessions.models import Ticket
from exam_server.sessions.operations import SessionSetupError, new_ticket_password
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel import transaction

_NONCE, _TAG = 16, 16


def _keys(secret: str) -> tuple[bytes, bytes]:
    root = hmac.new(secret.encode(), b"exam-server ticket password seal v1", hashlib.sha256).digest()
    return (hmac.new(root, b"encrypt", hashlib.sha256).digest(), hmac.new(root, b"authenticate", hashlib.sha256).digest())


def _stream(key: bytes, nonce: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hmac.new(key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    return out[:length]


def seal(password: str, secret: str) -> str:
    """`password` encrypted and authenticated under `secret` (text for a String column)."""
    enc, mac = _keys(secret)
    nonce = secrets.token_bytes(_NONCE)
    data = password.encode()
    body = bytes(a ^ b for a, b in zip(data, _stream(enc, nonce, len(data)), strict=True))
    tag = hmac.new(mac, nonce + body, hashlib.sha256).digest()[:_TAG]
    return base64.urlsafe_b64encode(nonce + body + tag).decode()


def unseal(token: str | None, secret: str) -> str | None:
    """The password sealed in `token`, or None when there is none or it does not verify (another SECRET_KEY)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except ValueError:
        return None
    if len(raw) <= _NONCE + _TAG:
        return None
    enc, mac = _keys(secret)
    nonce, body, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    if not hmac.compare_digest(hmac.new(mac, nonce + body, hashlib.sha256).digest()[:_TAG], tag):
        return None
    return bytes(a ^ b for a, b in zip(body, _stream(enc, nonce, len(body)), strict=True)).decode()


TICKET_HASH_PREFIX = "hmac-sha256$v1$"
_SALT = 16


def _ticket_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"exam-server ticket password hash v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ticket_password_hash(password: str, secret: str, salt: bytes | None = None) -> str:
    """The stored form of a ticket password: HMAC-SHA256 under a SECRET_KEY-derived key, salted (see the module
    docstring for why not argon2)."""
    salt = secrets.token_bytes(_SALT) if salt is None else salt
    digest = hmac.new(_ticket_key(secret), salt + password.encode(), hashlib.sha256).digest()
    return f"{TICKET_HASH_PREFIX}{_b64(salt)}${_b64(digest)}"


def verify_ticket_password(stored: str | None, password: str, secret: str) -> tuple[bool, bool]:
    """(matches, should be rewritten): a keyed hash is checked under `secret`; an argon2 hash of before (or of seed
    code for a server under another key) with argon2, and a match should then be stored as a keyed hash."""
    if not stored:
        return False, False
    if not stored.startswith(TICKET_HASH_PREFIX):
        return (True, True) if verify_password(stored, password) else (False, False)
    try:
        salt_text, _digest = stored.removeprefix(TICKET_HASH_PREFIX).split("$")
        salt = _unb64(salt_text)
    except ValueError:  # malformed: a mismatch, like a malformed argon2 hash
        return False, False
    return hmac.compare_digest(ticket_password_hash(password, secret, salt), stored), False


def app_secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def hash_profile() -> str:
    return str(current_app.config.get("PASSWORD_HASH_PROFILE") or "default")


def new_sealed_password(secret: str) -> tuple[str, str]:
    """A fresh initial password and its seal."""
    password = new_ticket_password()
    return password, seal(password, secret)


def printable_passwords(tickets: Sequence[Ticket], secret: str) -> dict[int, str]:
    """The initial passwords still sealed (never used to log in), by ticket id, for printing now. Writes nothing."""
    out = {}
    for ticket in tickets:
        password = unseal(ticket.password_sealed, secret) if ticket.status == "active" else None
        if password is not None:
            out[ticket.id] = password
    return out


def hash_sealed(session: Session, tickets: Sequence[Ticket], secret: str, profile: str) -> int:
    """Replace the sealed initial passwords of `tickets` by their hashes, as a first login would (seed code whose
    sitting another server process, under another SECRET_KEY, will serve). Commits; returns how many."""
    done = 0
    with transaction(session):
        for ticket in tickets:
            password = unseal(ticket.password_sealed, secret)
            if password is not None:
                ticket.password_hash, ticket.password_sealed = hash_password(password, profile), None
                done += 1
    return done


def check_password(session: Session, ticket: Ticket, password: str, secret: str) -> bool | None:
    """For login: True/False when the ticket still has its sealed initial password (a match is the first login:
    the keyed hash is stored and the seal erased, committed); None when the ticket has none (check the hash)."""
    sealed = unseal(ticket.password_sealed, secret)
    if sealed is None:
        return None
    if not hmac.compare_digest(sealed.encode(), password.encode()):
        return False
    with transaction(session):
        ticket.password_hash = ticket_password_hash(password, secret)
        ticket.password_sealed = None
        ticket.first_login_at = utcnow()
    return True


def check_hashed_password(session: Session, ticket: Ticket, password: str, secret: str) -> bool:
    """For login of a ticket past its first one: the stored hash checked; an argon2 one that matches is rewritten
    as a keyed hash (committed), so a ticket pays argon2's cost at most once."""
    ok, rewrite = verify_ticket_password(ticket.password_hash, password, secret)
    if ok and rewrite:
        with transaction(session):
            ticket.password_hash = ticket_password_hash(password, secret)
    return ok


def reset_password(session: Session, ticket: Ticket, actor: str, reason: str = "", secret: str | None = None) -> str:
    """A new password for `ticket` (returned once, to show to the person who reset it, stored only as a keyed hash
    under `secret`, the app's SECRET_KEY by default); the old one stops working and every session it opened ends.
    Commits."""
    if ticket.status != "active":
        raise SessionSetupError(f"准考证 {ticket.number} 已撤销，不能重置密码。", code="ticket_withdrawn")
    password = new_ticket_password()
    with transaction(session):
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(
            password_hash=ticket_password_hash(password, secret or app_secret()), password_sealed=None,
            password_issued_at=utcnow(),
            session_epoch=Ticket.session_epoch + 1))
        audit(session, actor, "reset_password", "ticket", ticket.id,
              after={"number": ticket.number, "reason": reason.strip()[:200]})
    session.refresh(ticket)
    announce_revoked(f"t:{ticket.id}")
    return password
