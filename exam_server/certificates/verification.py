"""Public verification (证书查询): by number and name, or by the code the QR code carries.

The answer says valid, revoked or unknown, with only the masked name, the level and the date. A wrong name for
a real number is answered exactly as an unknown number (same status, same empty fields, same words), so the page
cannot be used to learn which numbers exist or whose they are. Unknown answers count against the client address
(core/security throttling); a client that keeps guessing waits longer and longer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.certificates.models import VALID, Certificate
from exam_server.core.security import Throttle, address_key, login_wait_s, record_login_failure

LEVEL_NAMES = {5: "五级/初级保安员", 4: "四级/中级保安员", 3: "三级/高级保安员", 2: "二级/保安师", 1: "一级/高级保安师"}
OCCUPATION = "保安员"

STATE_VALID, STATE_REVOKED, STATE_UNKNOWN = "valid", "revoked", "unknown"
MESSAGES = {
    STATE_VALID: "证书有效。",
    STATE_REVOKED: "该证书已撤销或作废，不再有效。",
    STATE_UNKNOWN: "未查到与所填信息相符的证书。请核对证书编号、姓名或查询码。",
}
# Five free unknown answers, then 1 s doubling up to 5 minutes; forgotten after 10 quiet minutes.
VERIFY_THROTTLE = Throttle(free_failures=5, max_delay_s=300, quiet_s=600)


@dataclass(frozen=True)
class Answer:
    """What the page, the JSON and the CLI show; unknown has every field empty."""

    status: str
    message: str
    name: str = ""
    level: str = ""
    issued_on: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "message": self.message, "name": self.name, "level": self.level,
                "issued_on": self.issued_on}


UNKNOWN = Answer(STATE_UNKNOWN, MESSAGES[STATE_UNKNOWN])


def mask_name(name: str) -> str:
    """张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _answer(cert: Certificate) -> Answer:
    state = STATE_VALID if cert.status == VALID else STATE_REVOKED
    return Answer(state, MESSAGES[state], mask_name(cert.name), LEVEL_NAMES.get(cert.level, str(cert.level)),
                  cert.issued_on.strftime("%Y年%m月%d日"))


def _normal(text: str) -> str:
    return "".join((text or "").split())


def lookup(session: Session, *, code: str = "", number: str = "", name: str = "") -> Answer:
    """The answer for a code, or for a number with the holder's name (both needed)."""
    code, number, name = _normal(code).upper(), _normal(number), _normal(name)
    if code:
        cert = session.scalar(select(Certificate).where(Certificate.code == code[:20]))
        return _answer(cert) if cert is not None else UNKNOWN
    if not number or not name:
        return UNKNOWN
    cert = session.scalar(select(Certificate).where(Certificate.number == number[:16]))
    if cert is None or _normal(cert.name) != name:
        return UNKNOWN
    return _answer(cert)


def throttle_key(address: str) -> str:
    return "verify:" + address_key(address or "?")


def wait_s(session: Session, address: str) -> int:
    """Seconds this client must wait before its next lookup (0: now)."""
    return login_wait_s(session, [throttle_key(address)])


def verify(session: Session, address: str, **query: str) -> tuple[Answer, int]:
    """A throttled lookup: (answer, 0), or (UNKNOWN, seconds to wait) while the client must wait (nothing looked
    up). An unknown answer is counted against the address. Commits."""
    wait = wait_s(session, address)
    if wait:
        return UNKNOWN, wait
    answer = lookup(session, **query)
    session.commit()
    if answer.status == STATE_UNKNOWN:
        record_login_failure(session, {throttle_key(address): VERIFY_THROTTLE})
    return answer, 0
