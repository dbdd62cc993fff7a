"""The national 16-digit certificate number and the counter that gives its serial without gaps or duplicates.

year (2) · province (2) · city (2) · institution type (1) · institution serial (3) · level (1) · serial (5)

The serial counts per institution (centre), level and year from 00001. `take_serials` locks the counter row
for the rest of the caller's transaction: FOR UPDATE on PostgreSQL, and on SQLite the database's write lock,
which the caller holds from BEGIN IMMEDIATE (item_bank.db.begin_write). Two issues at once then wait for each
other instead of reading the same `last`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam_server.certificates.models import CertificateCode, CertificateCounter
from exam_server.organisations.models import CENTRE, CITY, PROVINCE, Organisation
from item_bank.kernel import DomainError

SERIAL_MAX = 99999
NUMBER_RE = re.compile(r"^\d{16}$")
# The verification code: no 0/O, 1/I/L, so it can be typed from a print.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12


class CertificateError(DomainError):
    default_code = "certificate_refused"
    default_status = 400


@dataclass(frozen=True)
class NumberParts:
    """The fields of a certificate number, each as printed (zero-padded)."""

    year: str
    province: str
    city: str
    institution_type: str
    institution: str
    level: str
    serial: str

    def number(self) -> str:
        return (f"{self.year}{self.province}{self.city}{self.institution_type}{self.institution}"
                f"{self.level}{self.serial}")


def parse_number(number: str) -> NumberParts:
    """The fields of a 16-digit number; CertificateError if it is not one."""
    if not NUMBER_RE.match(number):
        raise CertificateError(f"证书编号应为 16 位数字：{number}")
    n = number
    return NumberParts(n[0:2], n[2:4], n[4:6], n[6], n[7:10], n[10], n[11:16])


@dataclass(frozen=True)
class Issuing:
    """What a centre's numbers start with, and who issues its certificates (read once per batch)."""

    centre_id: int
    province: str
    city: str
    institution_type: int
    institution: str
    issuer: str


def _code_of(session: Session, org: Organisation | None, kind: str, digits: int) -> CertificateCode:
    label = {PROVINCE: "省", CITY: "市", CENTRE: "鉴定中心"}[kind]
    if org is None or org.kind != kind:
        raise CertificateError(f"证书编号需要{label}，但鉴定中心的上级机构不完整。")
    row = session.scalar(select(CertificateCode).where(CertificateCode.organisation_id == org.id))
    if row is None or len(row.code) != digits or not row.code.isdigit():
        raise CertificateError(f"{label}「{org.name}」没有 {digits} 位数字的证书编码，请先设置（examctl certificate-code）。")
    return row


def issuing_of(session: Session, centre_id: int) -> Issuing:
    """The centre's number prefix and issuer; CertificateError naming the organisation whose code is missing."""
    centre = session.get(Organisation, centre_id)
    centre_code = _code_of(session, centre, CENTRE, 3)
    if centre_code.institution_type is None or not 0 <= centre_code.institution_type <= 9:
        raise CertificateError(f"鉴定中心「{centre.name}」没有鉴定机构类别（0—4），请先设置。")  # type: ignore[union-attr]
    city = centre.parent  # type: ignore[union-attr]
    city_code = _code_of(session, city, CITY, 2)
    province = city.parent  # type: ignore[union-attr]
    province_code = _code_of(session, province, PROVINCE, 2)
    if not province_code.issuer:
        raise CertificateError(f"省「{province.name}」没有发证机关名称，请先设置。")  # type: ignore[union-attr]
    return Issuing(centre_id, province_code.code, city_code.code, centre_code.institution_type,
                   centre_code.code, province_code.issuer)


def set_code(session: Session, org: Organisation, code: str, *, institution_type: int | None = None,
             issuer: str | None = None) -> CertificateCode:
    """Set an organisation's certificate code (in the caller's transaction); checks its length for the kind."""
    digits = {PROVINCE: 2, CITY: 2, CENTRE: 3}.get(org.kind)
    if digits is None:
        raise CertificateError(f"「{org.name}」不是省、市或鉴定中心，没有证书编码。")
    if len(code) != digits or not code.isdigit():
        raise CertificateError(f"「{org.name}」的证书编码应为 {digits} 位数字：{code}")
    if org.kind == CENTRE and institution_type is not None and not 0 <= institution_type <= 4:
        raise CertificateError(f"鉴定机构类别应为 0—4：{institution_type}")
    row = session.scalar(select(CertificateCode).where(CertificateCode.organisation_id == org.id))
    if row is None:
        row = CertificateCode(organisation_id=org.id, code=code, issuer="")
        session.add(row)
    row.code = code
    if institution_type is not None:
        row.institution_type = institution_type
    elif org.kind == CENTRE and row.institution_type is None:
        row.institution_type = 0
    if issuer is not None:
        row.issuer = issuer
    session.flush()
    return row


def take_serials(session: Session, centre_id: int, level: int, year: int, count: int) -> list[int]:
    """`count` consecutive serials for (centre, level, year), the counter row locked until the caller's
    transaction ends. The caller began that transaction with begin_write (SQLite)."""
    where = (CertificateCounter.centre_id == centre_id, CertificateCounter.level == level,
             CertificateCounter.year == year)
    # populate_existing: sessions keep objects over commits (expire_on_commit=False), and the locked row's
    # `last` must be the database's, not the one this session read in an earlier transaction.
    locked = select(CertificateCounter).where(*where).with_for_update().execution_options(populate_existing=True)
    row = session.scalar(locked)
    if row is None:
        try:
            with session.begin_nested():  # a parallel issue may create the same row first
                session.add(CertificateCounter(centre_id=centre_id, level=level, year=year, last=0))
        except IntegrityError:
            pass
        row = session.scalar(locked)
        assert row is not None
    first = row.last + 1
    if row.last + count > SERIAL_MAX:
        raise CertificateError(f"本机构 {year} 年{level}级证书流水号已用完（最多 {SERIAL_MAX} 个）。")
    row.last += count
    session.flush()
    return list(range(first, first + count))


def compose(issuing: Issuing, level: int, year: int, serial: int) -> str:
    return NumberParts(f"{year % 100:02d}", issuing.province, issuing.city, str(issuing.institution_type),
                       issuing.institution, str(level), f"{serial:05d}").number()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
