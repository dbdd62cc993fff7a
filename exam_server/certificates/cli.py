"""`examctl issue-certificates`, `list-certificates`, `verify-certificate`, `certificate-code`: certificates from a
shell. A refusal exits with its Chinese reason."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from exam_server.certificates import queries
from exam_server.certificates.numbering import CertificateError, set_code
from exam_server.certificates.operations import issue_for_sitting
from exam_server.certificates.verification import STATE_REVOKED, STATE_VALID, lookup
from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.core.models import User
from exam_server.extensions import db
from exam_server.organisations.models import Organisation
from exam_server.organisations.scope import scope_for
from exam_server.sessions.models import ExamSession
from item_bank.audit import audit
from item_bank.db import transaction
from item_bank.kernel import cli_actor

# Exit codes of verify-certificate: 0 valid, 1 revoked or replaced, 2 unknown.
EXIT_REVOKED, EXIT_UNKNOWN = 1, 2


def _sitting(code: str) -> ExamSession:
    sitting = queries.sitting_by_code(db.session, code)
    if sitting is None:
        raise click.ClickException(f"没有代码为 {code} 的考试场次")
    return sitting


@click.command("issue-certificates")
@click.option("--sitting", "sitting_code", required=True, help="考试场次代码")
@click.option("--as", "username", required=True, help="以哪个鉴定中心账号发证（按其所属机构判断权限）")
@refusals_as_click_errors
def issue_certificates(sitting_code: str, username: str) -> None:
    """发证：为场次中成绩已发布、等级合格且尚无有效证书的考生编号发证，每行打印一个新证书编号。"""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.has_role("centre_staff"):
        raise click.ClickException(f"账号 {username} 不存在、已停用或不是鉴定中心人员")
    sitting = _sitting(sitting_code)
    scope = scope_for(user, db.session)
    scope.check_centre(sitting.centre_id, "考试场次")
    scope.check_write()
    made = issue_for_sitting(db.session, sitting.id, cli_actor(username))
    for cert in made:
        click.echo(f"{cert.number}\t{cert.name}")
    click.echo(f"新发证书 {len(made)} 本。", err=True)


@click.command("list-certificates")
@click.option("--sitting", "sitting_code", default=None, help="只列出该考试场次的证书")
@refusals_as_click_errors
def list_certificates(sitting_code: str | None) -> None:
    """列出证书：每行一个证书编号（在行首），其后是姓名、等级和状态。"""
    sitting_id = _sitting(sitting_code).id if sitting_code else None
    for cert in queries.certificates(db.session, sitting_id=sitting_id):
        click.echo(f"{cert.number}\t{cert.name}\t{cert.level}\t{cert.status}")


@click.command("verify-certificate")
@click.argument("code")
def verify_certificate(code: str) -> None:
    """查验证书：按查询码（二维码中的码）显示有效、已撤销或查无此证，以及部分隐去的姓名、等级、发证日期；
    有效时退出码 0，已撤销 1，查无此证 2。"""
    answer = lookup(db.session, code=code)
    click.echo(answer.message)
    if answer.name:
        click.echo(f"姓名：{answer.name}\n等级：{answer.level}\n发证日期：{answer.issued_on}")
    if answer.status != STATE_VALID:
        sys.exit(EXIT_REVOKED if answer.status == STATE_REVOKED else EXIT_UNKNOWN)


@click.command("certificate-code")
@click.argument("organisation")
@click.argument("code")
@click.option("--type", "institution_type", type=int, default=None, help="鉴定中心的鉴定机构类别（0 鉴定中心 … 4 企业）")
@click.option("--issuer", default=None, help="省的发证机关名称（如 某省人力资源和社会保障厅）")
@refusals_as_click_errors
def certificate_code(organisation: str, code: str, institution_type: int | None, issuer: str | None) -> None:
    """证书编码：设置省（2 位）、市（2 位）或鉴定中心（3 位机构序号）的证书编码，省的发证机关。"""
    org = db.session.scalar(select(Organisation).where(
        (Organisation.code == organisation) | (Organisation.name == organisation)))
    if org is None:
        raise CertificateError(f"没有机构 {organisation}")
    with transaction(db.session):
        row = set_code(db.session, org, code, institution_type=institution_type, issuer=issuer)
        audit(db.session, command_actor(), "certificate.code", "organisation", org.id,
              after={"code": row.code, "institution_type": row.institution_type, "issuer": row.issuer})
    click.echo(f"{org.name}：证书编码 {code}")


commands = (issue_certificates, list_certificates, verify_certificate, certificate_code)
