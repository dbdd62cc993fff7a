"""`examctl site …`: a node's keys, and the sitting package out (centre), in (site) and unsealed (site).

At a site:   examctl site keygen --site GZ01          # prints the public key and fingerprint to register
             examctl site trust-centre --public-key … # the centre's key, read from the centre's own keygen
             examctl site import 包.zip [--sitting CODE]
             examctl site unseal SITTING 解封码
At the centre: examctl site keygen                    # the centre's own key (signs packages)
             examctl site register GZ01 --public-key …
             examctl site export SITTING --site GZ01 -o 包.zip
             examctl site release-code SITTING --site GZ01
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from exam_server.core import signing
from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.extensions import db
from exam_server.sessions.cli import site_by_code, sitting_by_ref
from exam_server.sessions.credentials import app_secret, hash_profile
from exam_server.sitenode import keys, package
from exam_server.sitenode.models import KIND_CENTRE, KIND_SITE, TrustedKey


@click.group("site")
def site() -> None:
    """考点节点：密钥、考试数据包的导出（鉴定中心）、导入与解封（考点）。"""


@site.command("keygen")
@click.option("--site", "site_code", default=None, help="本节点是考点时，其考点编号（写入密钥目录）")
@click.option("--rotate", is_flag=True, help="更换已有的密钥（旧密钥须在对方处撤销）")
@refusals_as_click_errors
def keygen(site_code: str | None, rotate: bool) -> None:
    """生成本节点的 Ed25519 密钥对（私钥只存于 NODE_KEY_DIR，默认实例目录，权限 0600），并显示公钥和指纹。"""
    instance = signing.node_folder()
    public = signing.generate_node_key(instance, replace=rotate)
    if site_code:
        (instance / "site_code").write_text(site_code.strip() + "\n", encoding="utf-8")
    click.echo(f"公钥：{signing.public_key_text(public)}")
    click.echo(f"指纹：{signing.fingerprint(public)}")
    click.echo(f"私钥：{signing.key_paths(instance)[0]}（请勿复制到别处）")


@site.command("show-key")
@refusals_as_click_errors
def show_key() -> None:
    """显示本节点的公钥和指纹。"""
    public = signing.load_public_key(signing.node_folder())
    click.echo(f"公钥：{signing.public_key_text(public)}")
    click.echo(f"指纹：{signing.fingerprint(public)}")


@site.command("register")
@click.argument("code")
@click.option("--public-key", required=True, help="考点 examctl site keygen 显示的公钥")
@refusals_as_click_errors
def register(code: str, public_key: str) -> None:
    """鉴定中心登记考点 CODE 的公钥（该考点原有的公钥同时撤销）。"""
    row = keys.register_key(db.session, KIND_SITE, code, public_key, command_actor())
    click.echo(f"已登记考点 {code} 的公钥，指纹 {row.fingerprint}（请与考点电话核对）")


@site.command("trust-centre")
@click.option("--public-key", required=True, help="鉴定中心 examctl site keygen / show-key 显示的公钥")
@refusals_as_click_errors
def trust_centre(public_key: str) -> None:
    """考点登记鉴定中心的公钥（只接受由它签名的考试数据包）。"""
    row = keys.register_key(db.session, KIND_CENTRE, "centre", public_key, command_actor())
    click.echo(f"已登记鉴定中心的公钥，指纹 {row.fingerprint}（请与鉴定中心电话核对）")


@site.command("revoke")
@click.argument("fingerprint")
@refusals_as_click_errors
def revoke(fingerprint: str) -> None:
    """撤销指纹为 FINGERPRINT 的已登记公钥（密钥丢失或更换时）。"""
    row = keys.revoke_key(db.session, fingerprint, command_actor())
    click.echo(f"已撤销 {row.code} 的公钥 {row.fingerprint}")


@site.command("keys")
def list_keys() -> None:
    """列出已登记的公钥。"""
    for row in db.session.scalars(select(TrustedKey).order_by(TrustedKey.id)):
        state = f"已于 {row.revoked_at:%Y-%m-%d %H:%M} 撤销" if row.revoked_at else "有效"
        click.echo(f"{'考点' if row.kind == KIND_SITE else '鉴定中心'} {row.code}\t{row.fingerprint}\t{state}")


@site.command("export")
@click.argument("sitting")
@click.option("--site", "site_code", required=True, help="考点编号")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals_as_click_errors
def export(sitting: str, site_code: str, output: Path) -> None:
    """导出考试场次 SITTING 在考点的考试数据包（签名、试卷加密封存）。"""
    began = time.perf_counter()
    built = package.build_package(db.session, sitting_by_ref(sitting), site_by_code(site_code),
                                  signing.load_private_key(signing.node_folder()), command_actor(),
                                  secret_key=app_secret(), hash_profile=hash_profile())
    output.write_bytes(built.data)
    s = built.summary
    click.echo(f"已导出 {output}（{len(built.data) / 1024:.0f} KB，{time.perf_counter() - began:.1f} 秒）："
               f"{s['candidates']} 名考生，{s['forms']} 套试卷 {s['items']} 题，{s['rooms']} 个考场，"
               f"{s['proctors']} 名监考员，{s['photos']} 张照片")
    if s["needs_password_reset"]:
        click.echo(f"注意：{s['needs_password_reset']} 名考生已在中心登录过，其密码无法带到考点，需由考点监考员重置")
    click.echo("开考时用 examctl site release-code 取得解封码告知考点。")


@site.command("release-code")
@click.argument("sitting")
@click.option("--site", "site_code", required=True, help="考点编号")
@refusals_as_click_errors
def release_code(sitting: str, site_code: str) -> None:
    """显示考试场次 SITTING 在考点的试卷解封码（开考时告知主监考）。"""
    code = package.release_code_for(db.session, sitting_by_ref(sitting), site_code)
    click.echo(f"考试场次 {sitting} 考点 {site_code} 的解封码：{code}")


@site.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sitting", default=None, help="应导入的考试场次编号（不符则拒绝）")
@refusals_as_click_errors
def import_(path: Path, sitting: str | None) -> None:
    """考点导入考试数据包 PATH（校验签名与内容；同一数据包再次导入不做任何改动）。"""
    began = time.perf_counter()
    site_code = package.node_site_code(signing.node_folder(), current_app.config.get("SITE_CODE"))
    result = package.import_package(db.session, path, command_actor(), site_code=site_code, expected_sitting=sitting)
    if result["already"]:
        click.echo(f"数据包 {path.name} 已导入过，未做任何改动")
        return
    click.echo(f"已导入考试场次 {result['sitting']}（{time.perf_counter() - began:.1f} 秒）：{result['candidates']} 名考生，"
               f"{result['forms']} 套试卷，{result['rooms']} 个考场，{result['proctors']} 名监考员。试卷封存中，"
               "开考时由主监考输入解封码（examctl site unseal）。")
    for warning in result.get("warnings", []):
        click.echo(f"注意：{warning}")


@site.command("unseal")
@click.argument("sitting")
@click.argument("code")
@refusals_as_click_errors
def unseal(sitting: str, code: str) -> None:
    """用鉴定中心给出的解封码 CODE 解封考试场次 SITTING 的试卷。"""
    result = package.unseal_paper(db.session, sitting, code, command_actor())
    if result["already"]:
        click.echo(f"考试场次 {sitting} 的试卷已解封")
    else:
        click.echo(f"考试场次 {sitting} 的试卷已解封（{result['items']} 题），考生可以开始答题")


commands = [site]
