"""ID photos: JPEG or PNG by signature, bounded in bytes and pixels, stored once, attached to an application."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from exam_server.applications import operations as ops
from exam_server.applications.photos import MAX_PHOTO_BYTES, PhotoError, check_photo, store_photo
from exam_server.applications.queries import applicant_photo
from exam_server.organisations.scope import scope_for


def image(fmt: str, size: tuple[int, int] = (300, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(out, format=fmt)
    return out.getvalue()


def test_jpeg_and_png_pass_with_their_size() -> None:
    assert check_photo("a.jpg", image("JPEG")).mime == "image/jpeg"
    png = check_photo("a.PNG", image("PNG", (120, 160)))
    assert (png.mime, png.width, png.height) == ("image/png", 120, 160)


@pytest.mark.parametrize(("name", "data", "why"), [
    ("a.gif", image("GIF"), "须为 JPEG 或 PNG"),
    ("a.jpg", image("PNG"), "不是 image/jpeg"),          # the signature decides, not the name
    ("a.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 10, "无法识别"),
    ("a.png", b"", "空文件"),
    ("a.bmp", image("BMP"), "不是支持的格式"),
    ("a.png", image("PNG", (80, 120)), "100–4000 像素"),
    ("a.png", image("PNG", (4001, 200)), "100–4000 像素"),
])
def test_what_is_refused(name: str, data: bytes, why: str) -> None:
    with pytest.raises(PhotoError, match=why):
        check_photo(name, data)


def test_too_many_bytes_is_refused() -> None:
    data = image("PNG") + b"\0" * MAX_PHOTO_BYTES
    with pytest.raises(PhotoError, match="超过上限"):
        check_photo("big.png", data)


def test_a_huge_image_is_refused_from_its_header_alone() -> None:
    # A tiny PNG that declares 30000×30000 pixels: refused before anything decodes it.
    with pytest.raises(PhotoError):
        check_photo("bomb.png", image("PNG", (30000, 1)))


def test_photos_are_stored_once_and_reach_the_application(world) -> None:
    s = world.session
    data = image("JPEG")
    first, again = store_photo(s, "a.jpg", data), store_photo(s, "b.jpg", data)
    assert first.id == again.id
    application = ops.submit_application(s, world.unit1, world.row(1), channel="screen", actor="user:unit1",
                                         photo=("me.png", image("PNG")))
    assert applicant_photo(s, application.id).mime == "image/png"
    ops.set_photo(s, application, "new.jpg", data, actor="user:unit1", scope=scope_for(world.users["unit1"], s))
    assert applicant_photo(s, application.id).data == data
    with pytest.raises(ops.DomainError, match="不属于您所在的机构"):
        ops.set_photo(s, application, "x.jpg", data, actor="user:unit2", scope=scope_for(world.users["unit2"], s))


def test_a_bad_photo_refuses_the_whole_application(world) -> None:
    with pytest.raises(ops.ApplicationError, match="证件照"):
        ops.submit_application(world.session, world.unit1, world.row(1), channel="link", actor="user:x",
                               photo=("me.png", b"not a picture"))
    assert world.session.query(ops.Application).count() == 0
