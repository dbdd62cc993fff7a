"""The report screens: a centre sees its own figures and no other centre's; a pilot unit sees none; the police
read but neither import nor register keys; the province uploads a centre's file (a job) and its summary shows
it; the workbook is a job whose file downloads; plots are PNG and SVG from the server."""

from __future__ import annotations

import io
import json

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from reports_support import PASSWORD, World

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ARGS = "from=2026-03-01&to=2026-04-30"


def _login(app: Flask, username: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, token


def test_who_sees_which_centres_report(app: Flask, world: World) -> None:
    c1, _ = _login(app, "c1staff")
    page = c1.get(f"/reports/?{ARGS}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "鉴定中心 甲市鉴定中心" in text and "T5 场次T5" in text and "M5 场次M5" not in text
    assert c1.get(f"/reports/?{ARGS}&centre=C2").status_code == 403  # another centre's report
    c2, _ = _login(app, "c2staff")
    assert c2.get(f"/reports/?{ARGS}&centre=C1").status_code == 403
    assert "T5 场次T5" not in c2.get(f"/reports/?{ARGS}").get_data(as_text=True)
    assert c2.get(f"/reports/holders?{ARGS}&centre=C1").status_code == 403
    unit, _ = _login(app, "unit1")
    for url in (f"/reports/?{ARGS}", f"/reports/holders?{ARGS}", f"/reports/plot/trend.png?{ARGS}",
                "/reports/centre", "/reports/province"):
        assert unit.get(url).status_code == 403, url
    province, _ = _login(app, "prov")
    both = province.get(f"/reports/?{ARGS}").get_data(as_text=True)
    assert "T5 场次T5" in both and "M5 场次M5" in both
    assert "T5 场次T5" in province.get(f"/reports/?{ARGS}&centre=C1").get_data(as_text=True)
    police, token = _login(app, "police1")
    assert police.get(f"/reports/?{ARGS}").status_code == 200
    assert police.get("/reports/province").status_code == 200
    assert police.post("/reports/province/keys", data={"csrf_token": token, "centre": "C1",
                                                       "public_key": "x"}).status_code == 403


def test_plots_holders_and_the_workbook_job(app: Flask, world: World) -> None:
    c1, token = _login(app, "c1staff")
    png = c1.get(f"/reports/plot/distribution.png?{ARGS}")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    svg = c1.get(f"/reports/plot/trend.svg?{ARGS}")
    assert svg.status_code == 200 and b"<svg" in svg.data and b'href="http' not in svg.data  # nothing fetched
    holders = c1.get(f"/reports/holders?{ARGS}").get_data(as_text=True)
    assert "考生a" in holders and world.people["a"].id_number not in holders
    assert c1.get("/reports/?from=2026-05-01&to=2026-04-01").status_code == 400
    made = c1.post("/reports/workbook", data={"csrf_token": token, "from": "2026-03-01", "to": "2026-04-30",
                                              "holders": "1"})
    assert made.status_code == 302
    job_page = c1.get(made.headers["Location"]).get_data(as_text=True)
    assert "统计报表已生成" in job_page
    job_id = made.headers["Location"].rstrip("/").split("/")[-1]
    download = c1.get(f"/jobs/{job_id}/file")
    assert download.status_code == 200 and download.data[:2] == b"PK"
    c2, _ = _login(app, "c2staff")
    assert c2.get(f"/jobs/{job_id}/file").status_code in (403, 404)  # another centre's workbook


def test_centre_file_through_the_province_screens(app: Flask, world: World) -> None:
    c1, token = _login(app, "c1staff")
    page = c1.get("/reports/centre").get_data(as_text=True)
    public = page.split('id="public-key">')[1].split("<")[0]
    signed = c1.post("/reports/centre/export", data={"csrf_token": token, "from": "2026-03-01", "to": "2026-04-30"})
    assert signed.status_code == 200 and json.loads(signed.data)["centre"] == "C1"
    province, ptoken = _login(app, "prov")

    def upload(data: bytes) -> str:
        made = province.post("/reports/province/import", data={"csrf_token": ptoken,
                                                               "file": (io.BytesIO(data), "C1.json")},
                             content_type="multipart/form-data")
        assert made.status_code == 302
        return province.get(made.headers["Location"]).get_data(as_text=True)

    assert "尚未在省级登记" in upload(signed.data)
    assert province.post("/reports/province/keys", data={"csrf_token": ptoken, "centre": "C1",
                                                         "public_key": public}).status_code == 302
    assert "已导入" in upload(signed.data)
    assert "未做任何更改" in upload(signed.data)
    summary = province.get("/reports/province").get_data(as_text=True)
    assert "C1.json" in summary and "甲市鉴定中心" in summary
