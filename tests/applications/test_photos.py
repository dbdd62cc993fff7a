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


def _zip(path, members: dict[str, bytes]):
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_units_zip_of_photos_named_by_id_number(world, tmp_path) -> None:
    s = world.session
    first = ops.submit_application(s, world.unit1, world.row(1), channel="screen", actor="user:unit1")
    second = ops.submit_application(s, world.unit1, world.row(2), channel="screen", actor="user:unit1")
    theirs = ops.submit_application(s, world.unit2, world.row(3, 培训单位="U2"), channel="screen", actor="user:unit2")
    from exam_server.applications.photos import read_photo_archive

    bad = _zip(tmp_path / "bad.zip", {
        f"照片/{first.id_number}.jpg": image("JPEG"),
        f"{second.id_number.lower()}.png": image("PNG", (50, 50)),   # too small
        f"{theirs.id_number}.jpg": image("JPEG"),                     # another unit's applicant
        "__MACOSX/._x.jpg": b"junk", ".DS_Store": b"junk",            # skipped
    })
    scope = scope_for(world.users["unit1"], s)
    with pytest.raises(ops.ApplicationError) as refused:
        ops.import_photos(s, world.unit1, read_photo_archive(bad), actor="user:unit1", scope=scope, file="bad.zip")
    named = {p.column: p.message for p in refused.value.problems}
    assert set(named) == {f"{second.id_number.lower()}.png", f"{theirs.id_number}.jpg"}
    assert "100–4000 像素" in named[f"{second.id_number.lower()}.png"] and "没有身份证号为" in named[f"{theirs.id_number}.jpg"]
    assert applicant_photo(s, first.id) is None  # all or none
    good = _zip(tmp_path / "good.zip", {f"照片/{first.id_number}.jpg": image("JPEG"),
                                         f"{second.id_number}.PNG": image("PNG")})
    assert ops.import_photos(s, world.unit1, read_photo_archive(good), actor="user:unit1", scope=scope) == 2
    assert applicant_photo(s, first.id).mime == "image/jpeg" and applicant_photo(s, second.id).mime == "image/png"
    with pytest.raises(ops.DomainError, match="不属于您所在的机构"):
        ops.import_photos(s, world.unit2, [], actor="user:unit1", scope=scope)


def test_the_photo_zip_goes_through_the_bounded_reader(tmp_path) -> None:
    from exam_server.applications.photos import MAX_PHOTO_BYTES, read_photo_archive
    from item_bank.archives import ArchiveError

    big = _zip(tmp_path / "big.zip", {"110105194912310020.jpg": b"\xff\xd8\xff" + b"\0" * MAX_PHOTO_BYTES * 2})
    with pytest.raises(ArchiveError) as refused:
        read_photo_archive(big)
    assert refused.value.member == "110105194912310020.jpg"
