"""The authorisation matrix, generated from the app: every URL rule and Socket.IO event has a line in
exam_server/core/policy.py, and every one is tried by every identity (anonymous, a candidate, each staff
role) in one small seeded world. Identities the policy does not name are refused (401, 403, or a
redirect to a login page; 404 where the policy hides the route); the ones it names are not; nobody gets a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import AnyConverter, Rule

from exam_server.core import policy

pytest_plugins = ["proctor_support"]

# The staff account that plays each role (proctor watches room 1, where candidate 0 sits).
ROLE_USERS = {
    "author": "author", "reviewer": "reviewer", "bank_manager": "manager", "pilot_unit": "pilot",
    "centre_staff": "staff", "proctor": "proctor", "grader": "grader1", "chief_grader": "chief", "admin": "admin",
    "province": "province", "police": "police",
}
# Refusals of who is asking, in socket acknowledgements (anything else is a refusal of what was asked).
AUTH_REFUSALS = {"forbidden", "not_your_room", "no_room", "not_your_attempt", "unauthorized", "login_required"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def test_every_route_and_event_has_a_policy(app: Flask) -> None:
    from exam_server.extensions import socketio

    missing_routes = sorted({r.endpoint for r in app.url_map.iter_rules()} - set(policy.ROUTES))
    events = {(ns, name) for ns, handlers in socketio.server.handlers.items() for name in handlers}
    events |= {(ns, "*") for ns in socketio.server.namespace_handlers}  # class-based namespaces, if any appear
    missing_events = sorted(events - set(policy.SOCKET_EVENTS))
    assert not missing_routes and not missing_events, (
        f"add these to exam_server/core/policy.py: routes {missing_routes}, events {missing_events}")
    # And nothing stale: a policy line for a route or event that no longer exists is a mistake waiting to happen.
    assert set(policy.ROUTES) <= {r.endpoint for r in app.url_map.iter_rules()}
    assert set(policy.SOCKET_EVENTS) <= events
    for access in (*policy.ROUTES.values(), *policy.SOCKET_EVENTS.values()):
        assert access.who <= set(policy.IDENTITIES)
        assert access.public or not (access.who & policy.STAFF) or "admin" in access.who


@dataclass
class Identity:
    name: str
    client: FlaskClient
    token: str


@dataclass
class World:
    seated: Any
    identities: list[Identity]
    params: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def world(app: Flask, session: Session, seated: Any) -> Iterator[World]:
    from proctor_support import STAFF_PASSWORD

    from exam_server.core.models import User
    from exam_server.core.security import hash_password
    from exam_server.sessions.models import Site, Ticket
    from item_bank.models import Blueprint, Form, FormItem, Item, ItemVersion, KnowledgeArea

    for username, roles in (("admin", ["admin"]), ("pilot", ["pilot_unit"]), ("spare", ["author"]),
                           ("province", ["province"]), ("police", ["police"])):
        session.add(User(username=username, display_name=username, roles=roles,
                         password_hash=hash_password(STAFF_PASSWORD, "low")))
    session.commit()
    anonymous = app.test_client()
    from conftest import csrf_token_from

    identities = [Identity(policy.ANONYMOUS, anonymous, csrf_token_from(anonymous.get("/staff/login").get_data(as_text=True)))]
    candidate = app.test_client()
    identities.append(Identity(policy.CANDIDATE, candidate, seated.candidate_login(candidate, 0)))
    for role in policy.STAFF:
        client = app.test_client()
        identities.append(Identity(role, client, seated.staff_login(client, ROLE_USERS[role])))
    identities.sort(key=lambda i: policy.IDENTITIES.index(i.name))

    attempt_id = seated.attempt_ids[0]
    version = session.scalar(select(ItemVersion).order_by(ItemVersion.id))
    item = session.get(Item, version.item_id)
    first = session.scalar(select(Ticket).order_by(Ticket.id))
    params: dict[str, Any] = {
        "attempt_id": attempt_id, "room_id": seated.room1, "session_id": seated.seeded.exam_session_id,
        "site_id": session.scalar(select(Site.id)), "ticket_id": first.id,
        "form_id": session.scalar(select(Form.id)), "bp_id": session.scalar(select(Blueprint.id)),
        "version_id": version.id, "external_id": item.external_id, "area_id": session.scalar(select(KnowledgeArea.id)),
        "user_id": session.scalar(select(User.id).where(User.username == "spare")),
        "item_id": session.scalar(select(FormItem.item_version_id).order_by(FormItem.form_id, FormItem.position)),
        "digest": "0" * 64, "code": "T0001", "n": 1, "filename": "exam/exam.js",
        # An unknown action: authorised first, then refused as unknown, so the walk changes nothing.
        "action": "no_such_action",
    }
    yield World(seated, identities, params)


def _url(rule: Rule, params: dict[str, Any]) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif name in params:
            values[name] = params[name]
        elif name == "fmt":
            values[name] = "csv"
        else:  # a parameter this world has nothing for: an id that exists nowhere
            values[name] = 999_999 if converter.regex == r"\d+" else "none"
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule
    return built[1]


LOGIN_PAGES = ("/login", "/staff/login")


def _to_login(response: Any) -> bool:
    """A redirect to a login page (not to a page about logins, such as /admin/logins)."""
    return response.status_code in (301, 302, 303) and urlsplit(response.headers.get("Location", "")).path in LOGIN_PAGES


def _requests(app: Flask, params: dict[str, Any]) -> list[tuple[Rule, str, str]]:
    """(rule, method, url) of every route: reads first, then writes, logging out last."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            continue
        for method in sorted(rule.methods - SKIPPED_METHODS):
            found.append((rule, method, _url(rule, params)))
    return sorted(found, key=lambda r: (r[0].endpoint == "core.logout", r[1] != "GET", r[0].endpoint, r[1]))


def test_every_route_refuses_whom_the_policy_does_not_name(app: Flask, world: World) -> None:
    problems: list[str] = []
    tried = 0
    for rule, method, url in _requests(app, world.params):
        access = policy.ROUTES.get(rule.endpoint)
        if access is None:  # reported by test_every_route_and_event_has_a_policy
            continue
        for who in world.identities:
            kwargs: dict[str, Any] = {}
            if method != "GET":
                kwargs = {"data": {"csrf_token": who.token}, "headers": {"X-CSRFToken": who.token}}
            response = who.client.open(url, method=method, **kwargs)
            tried += 1
            status = response.status_code
            label = f"{who.name:>13} {method:<4} {url} ({rule.endpoint}) -> {status}"
            if status >= 500:
                problems.append(f"server error: {label}")
            elif not access.allows(who.name):
                refused = status in (401, 403) or _to_login(response) or (access.hidden and status == 404)
                if not refused:
                    problems.append(f"not refused: {label}")
            elif not access.public and (status in (401, 403) or _to_login(response)):
                problems.append(f"refused although allowed: {label}")
    assert tried > 1000
    assert not problems, "\n".join(problems)


def _connect(app: Flask, client: FlaskClient, namespace: str) -> Any:
    from exam_server.extensions import socketio

    return socketio.test_client(app, namespace=namespace, flask_test_client=client)


def _payload(world: World, namespace: str, event: str) -> dict[str, Any]:
    if namespace == policy.EXAM_NS:
        body = {"attempt_id": world.params["attempt_id"], "workstation": "matrix", "seq": 1, "key": f"m-{event}"}
        return body | {"item_id": world.params.get("item_id", 0), "value": None, "flagged": True}
    return {"attempt_id": world.params["attempt_id"], "room_id": world.params["room_id"], "reason": "matrix",
            "minutes": 1, "text": "matrix", "category": "other"}


def test_every_socket_event_refuses_whom_the_policy_does_not_name(app: Flask, world: World) -> None:
    from exam_server.extensions import socketio

    problems: list[str] = []
    handlers = socketio.server.handlers
    for namespace in sorted(handlers):
        events = sorted(e for e in handlers[namespace] if e not in ("connect", "disconnect"))
        # submit last: it ends the attempt the other events act on
        events.sort(key=lambda e: e == "submit")
        for who in world.identities:
            connect = policy.SOCKET_EVENTS.get((namespace, "connect"), policy.Access(frozenset()))
            sock = _connect(app, who.client, namespace)
            if not connect.allows(who.name):
                if sock.is_connected(namespace):
                    problems.append(f"connected although not allowed: {who.name} {namespace}")
                    sock.disconnect(namespace)
                continue
            if not sock.is_connected(namespace):
                problems.append(f"refused a connection although allowed: {who.name} {namespace}")
                continue
            for event in events:
                access = policy.SOCKET_EVENTS.get((namespace, event))
                if access is None:  # reported by test_every_route_and_event_has_a_policy
                    continue
                ack = sock.emit(event, _payload(world, namespace, event), namespace=namespace, callback=True)
                label = f"{who.name} {namespace} {event} -> {ack}"
                if not isinstance(ack, dict):
                    problems.append(f"no acknowledgement: {label}")
                elif access.allows(who.name) and ack.get("error") in AUTH_REFUSALS:
                    problems.append(f"refused although allowed: {label}")
                elif not access.allows(who.name) and ack.get("ok"):
                    problems.append(f"not refused: {label}")
            sock.disconnect(namespace)
    assert not problems, "\n".join(problems)


# What puts a URL outside an identity's scope: another room (and an attempt and ticket seated there) for
# a proctor of room 1; another candidate's attempt and ticket for candidate 0.
SCOPED_PARAMS = {policy.OWN_ROOM: ("room_id", "attempt_id", "ticket_id"), policy.OWN_ATTEMPT: ("attempt_id", "ticket_id")}
SCOPED_IDENTITY = {policy.OWN_ROOM: "proctor", policy.OWN_ATTEMPT: policy.CANDIDATE}


def test_scoped_routes_refuse_outside_the_scope(app: Flask, world: World, session: Session) -> None:
    from exam_server.delivery.models import Attempt

    other = session.get(Attempt, world.seated.other_room_attempt)  # candidate 3, seated in room 2
    outside = world.params | {"room_id": world.seated.room2, "attempt_id": other.id, "ticket_id": other.ticket_id}
    by_name = {i.name: i for i in world.identities}
    problems: list[str] = []
    tried = 0
    for rule, method, url in _requests(app, outside):
        access = policy.ROUTES.get(rule.endpoint)
        if access is None or access.scope not in SCOPED_PARAMS:
            continue
        if not set(rule.arguments) & set(SCOPED_PARAMS[access.scope]):
            continue  # the route names nothing the scope is about (a console's start page, the exam page)
        who = by_name[SCOPED_IDENTITY[access.scope]]
        kwargs: dict[str, Any] = {}
        if method != "GET":
            kwargs = {"data": {"csrf_token": who.token}, "headers": {"X-CSRFToken": who.token}}
        response = who.client.open(url, method=method, **kwargs)
        tried += 1
        if response.status_code not in (401, 403, 404) and not _to_login(response):
            problems.append(f"{who.name} {method} {url} ({rule.endpoint}) -> {response.status_code}")
    assert tried >= 10
    assert not problems, "outside the scope but not refused:\n" + "\n".join(problems)
