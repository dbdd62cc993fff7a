"""The national 16-digit number: every field from data, the serial per institution, level and year, and no
gap or duplicate when issues run at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from certificates_support import CENTRE_CODE, CITY_CODE, ISSUER, PROVINCE_CODE, make_candidates, set_codes
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.certificates.models import Certificate, CertificateCode
from exam_server.certificates.numbering import CertificateError, parse_number, set_code
from exam_server.certificates.operations import Facts, issue
from exam_server.organisations.models import Centre
from item_bank.db import make_session_factory


def facts(people, centre: Centre, level: int = 5) -> list[Facts]:
    return [Facts(p.id, level, centre.id, 80.0, False, 75.0) for p in people]


def test_every_field_of_the_number(session: Session, centre: Centre) -> None:
    (person,) = make_candidates(session, 1)
    (cert,) = issue(session, facts([person], centre, level=4), "test", issued_on=dt.date(2026, 12, 6))
    assert len(cert.number) == 16 and cert.number.isdigit()
    parts = parse_number(cert.number)
    assert parts.year == "26"
    assert parts.province == PROVINCE_CODE
    assert parts.city == CITY_CODE
    assert parts.institution_type == "0"
    assert parts.institution == CENTRE_CODE
    assert parts.level == "4"
    assert parts.serial == "00001"
    assert cert.number == "2644030017400001"
    assert cert.issuer == ISSUER
    assert cert.name == person.name and cert.id_number == person.id_number


def test_institution_type_and_codes_are_data(session: Session, centre: Centre) -> None:
    set_codes(session, centre, centre_code="205", institution_type=4)
    (person,) = make_candidates(session, 1)
    (cert,) = issue(session, facts([person], centre, level=1), "test", issued_on=dt.date(2027, 1, 2))
    assert cert.number == "2744034205100001"


def test_serial_counts_per_institution_level_and_year(session: Session, centre: Centre) -> None:
    people = make_candidates(session, 7)
    first = issue(session, facts(people[:3], centre, 5), "test", issued_on=dt.date(2026, 5, 1))
    assert [parse_number(c.number).serial for c in first] == ["00001", "00002", "00003"]
    other_level = issue(session, facts(people[3:5], centre, 4), "test", issued_on=dt.date(2026, 5, 1))
    assert [parse_number(c.number).serial for c in other_level] == ["00001", "00002"]
    more = issue(session, facts(people[5:6], centre, 5), "test", issued_on=dt.date(2026, 6, 1))
    assert parse_number(more[0].number).serial == "00004"
    next_year = issue(session, facts(people[6:7], centre, 5), "test", issued_on=dt.date(2027, 1, 1))
    assert parse_number(next_year[0].number).serial == "00001"
    assert parse_number(next_year[0].number).year == "27"
    # Another institution counts from 00001 in the same year and level.
    city = centre.parent
    other = Centre(code="C2", name="第二鉴定中心", parent_id=city.id)
    session.add(other)
    session.flush()
    set_code(session, other, "018", institution_type=0)
    session.commit()
    (extra,) = make_candidates(session, 1, prefix="44030119900202")
    (cert,) = issue(session, [Facts(extra.id, 5, other.id, 70.0, False, 70.0)], "test", issued_on=dt.date(2026, 7, 1))
    assert parse_number(cert.number).institution == "018"
    assert parse_number(cert.number).serial == "00001"


def test_a_holder_gets_one_certificate_per_level(session: Session, centre: Centre) -> None:
    people = make_candidates(session, 2)
    assert len(issue(session, facts(people, centre), "test")) == 2
    assert issue(session, facts(people, centre), "test") == []
    assert session.scalar(select(Certificate).where(Certificate.number.like("%00003"))) is None


def test_missing_codes_are_named(session: Session, centre: Centre) -> None:
    session.delete(session.scalar(select(CertificateCode).where(CertificateCode.organisation_id == centre.parent_id)))
    session.commit()
    (person,) = make_candidates(session, 1)
    with pytest.raises(CertificateError, match="测试市"):
        issue(session, facts([person], centre), "test")
    assert session.scalar(select(Certificate)) is None
    with pytest.raises(CertificateError, match="3 位数字"):
        set_code(session, centre, "17")


def test_no_gaps_and_no_duplicates_on_concurrent_issue(session: Session, centre: Centre) -> None:
    # PostgreSQL: the counter row locked FOR UPDATE; SQLite: writers one at a time from BEGIN IMMEDIATE. Each
    # thread reuses its session, as the worker does, so a counter it read earlier must not be trusted either.
    n_threads, per_thread = 6, 10
    people = make_candidates(session, n_threads * per_thread)
    factory = make_session_factory(session.get_bind())
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def run(batch: list[Facts]) -> None:
        own = factory()
        try:
            start.wait()
            for one in batch:  # one certificate per transaction: the most contention on the counter row
                issue(own, [one], "test", issued_on=dt.date(2026, 12, 6))
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    all_facts = facts(people, centre)
    threads = [threading.Thread(target=run, args=(all_facts[i::n_threads],)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    serials = sorted(int(parse_number(n).serial) for n in session.scalars(select(Certificate.number)))
    assert serials == list(range(1, n_threads * per_thread + 1))
