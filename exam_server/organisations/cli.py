"""Keeping the organisations from a shell: centres, pilot units (a city not yet known is created under the
province), and the lists other commands take codes from (one organisation a line, code first)."""

from __future__ import annotations

import click

from exam_server.core.cli import command_actor, refusals_as_click_errors
from exam_server.extensions import db
from exam_server.organisations import operations as ops
from exam_server.organisations.models import Centre, PilotUnit


def _levels(unit: PilotUnit) -> str:
    return ",".join(str(level) for level in unit.levels or []) or "-"


@click.command("add-centre")
@click.argument("name")
@click.option("--city", required=True, help="所在城市（尚无此城市时自动新建，隶属本省）")
@click.option("--code", default=None, help="编号（默认自动编为 C001、C002 …）")
@refusals_as_click_errors
def add_centre(name: str, city: str, code: str | None) -> None:
    """新建鉴定中心 NAME。"""
    centre = ops.create_centre(db.session, name=name, city=city, code=code, actor=command_actor())
    click.echo(f"{centre.code}\t{centre.name}\t{centre.parent.name if centre.parent else ''}")


@click.command("add-unit")
@click.argument("name")
@click.option("--city", required=True, help="所在城市（尚无此城市时自动新建，隶属本省）")
@click.option("--licence", default="", help="《保安培训许可证》编号")
@click.option("--levels", default="", help="可申报的等级，如 5,4")
@click.option("--centre", default=None, help="负责复审的鉴定中心（编号或名称；默认为该城市唯一的鉴定中心）")
@click.option("--code", default=None, help="编号（默认自动编为 U0001、U0002 …）")
@refusals_as_click_errors
def add_unit(name: str, city: str, licence: str, levels: str, centre: str | None, code: str | None) -> None:
    """新建培训鉴定试点单位 NAME。"""
    unit = ops.create_unit(db.session, name=name, city=city, licence_number=licence, levels=levels,
                           centre=centre, code=code, actor=command_actor())
    where = unit.centre.name if unit.centre else "（未指定鉴定中心：请用 --centre 指定）"
    click.echo(f"{unit.code}\t{unit.name}\t{unit.parent.name if unit.parent else ''}\t{where}")


@click.command("list-centres")
def list_centres() -> None:
    """列出鉴定中心：编号、名称、城市，一行一个。"""
    for centre in ops.centres(db.session):
        click.echo(f"{centre.code}\t{centre.name}\t{centre.parent.name if centre.parent else ''}")


@click.command("list-units")
@click.option("--centre", default=None, help="只列出这个鉴定中心（编号或名称）的单位")
@refusals_as_click_errors
def list_units(centre: str | None) -> None:
    """列出试点单位：编号、名称、城市、鉴定中心、可申报等级、许可证编号，一行一个。"""
    only = ops.find(db.session, Centre, centre, "鉴定中心") if centre else None
    for unit in ops.units(db.session):
        if only is not None and unit.centre_id != only.id:
            continue
        click.echo(f"{unit.code}\t{unit.name}\t{unit.parent.name if unit.parent else ''}\t"
                   f"{unit.centre.name if unit.centre else '-'}\t{_levels(unit)}\t{unit.licence_number or '-'}")


commands = [add_centre, add_unit, list_centres, list_units]
