"""Public verification: valid, revoked, unknown and wrong-name answers; the last two alike in shape and words;
only the masked name, level and date shown; throttled per address."""

from __future__ import annotations

import datetime as dt

from certificates_support import make_candidates
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from exam_server.certificates.models import Certificate
from exam_server.certificates.operations import Facts, issue, reissue, revoke
from exam_server.certificates.verification import UNKNOWN, lookup, mask_name
from exam_server.organisations.models import Centre


def one(session: Session, centre: Centre, name: str = "王小明", prefix: str = "44030119900101") -> Certificate:
    (person,) = make_candidates(session, 1, prefix=prefix)
    person.name = name
    session.commit()
    (cert,) = issue(session, [Facts(person.id, 5, centre.id, 80.0, False, 75.0)], "test",
                    issued_on=dt.date(2026, 12, 6))
    return cert


def test_mask_name() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("王小明") == "王*明"
    assert mask_name("欧阳娜娜") == "欧**娜"


def test_valid_by_code_and_by_number_and_name(session: Session, centre: Centre, client: FlaskClient) -> None:
    cert = one(session, centre)
    for answer in (lookup(session, code=cert.code), lookup(session, number=cert.number, name="王小明")):
        assert answer.as_dict() == {"status": "valid", "message": "证书有效。", "name": "王*明",
                                    "level": "五级/初级保安员", "issued_on": "2026年12月06日"}
    page = client.get(f"/verify/{cert.code}").get_data(as_text=True)
    assert "证书有效。" in page and "王*明" in page and "2026年12月06日" in page
    # Only the masked name, the level and the date: never the full name, the ID number or the scores.
    assert "王小明" not in page and cert.id_number[-4:] not in page and cert.id_number[:6] not in page
    assert "80" not in page.split('id="answer"')[1].split("</section>")[0]


def test_revoked_and_replaced(session: Session, centre: Centre, client: FlaskClient) -> None:
    cert = one(session, centre)
    revoke(session, cert.id, "证书信息有误", "user:staff")
    answer = lookup(session, code=cert.code)
    assert answer.status == "revoked" and answer.name == "王*明"
    assert 'data-status="revoked"' in client.get(f"/verify/{cert.code}").get_data(as_text=True)

    other = one(session, centre, name="李四", prefix="44030119900202")
    new = reissue(session, other.id, "遗失", "user:staff")
    assert lookup(session, code=other.code).status == "revoked"
    assert lookup(session, code=new.code).status == "valid"
    assert new.number != other.number


def test_unknown_and_wrong_name_look_the_same(session: Session, centre: Centre, app, client: FlaskClient) -> None:
    cert = one(session, centre)
    wrong_name = lookup(session, number=cert.number, name="王小华")
    unknown = lookup(session, number="2644030017509999", name="王小明")
    assert wrong_name == unknown == UNKNOWN
    assert unknown.name == unknown.level == unknown.issued_on == ""

    def page(query: str) -> tuple[int, str]:
        response = client.get(f"/verify?{query}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
        return response.status_code, response.get_data(as_text=True)

    assert page(f"number={cert.number}&name=王小华") == page("number=2644030017509999&name=王小明")
    json_wrong = client.get(f"/verify?number={cert.number}&name=王小华&format=json").get_json()
    json_unknown = client.get("/verify?number=2644030017509998&name=王小明&format=json").get_json()
    assert json_wrong == json_unknown
    assert client.get("/verify/NOSUCHCODE22").get_data(as_text=True).count("未查到与所填信息相符的证书") == 1


def test_guessing_is_throttled_per_address(session: Session, centre: Centre, client: FlaskClient) -> None:
    cert = one(session, centre)
    guesser = {"REMOTE_ADDR": "10.0.0.66"}
    codes = [client.get(f"/verify/GUESS{i:07d}", environ_base=guesser).status_code for i in range(8)]
    assert codes[:5] == [200] * 5 and 429 in codes[5:]
    # While it waits even a real code is not looked up for that address; another address is answered.
    assert client.get(f"/verify/{cert.code}", environ_base=guesser).status_code == 429
    ok = client.get(f"/verify/{cert.code}", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert ok.status_code == 200 and "证书有效。" in ok.get_data(as_text=True)
