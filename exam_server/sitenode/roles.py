"""One code base, two roles (NODE_ROLE): the centre (中心) runs everything; a test site (考点) runs the exam-day
screens (candidates, proctors, check-in, seat maps, its package import and unsealing) and refuses the centre's
work (the bank, assembly, analysis, grading, results and their release, certificates, applications) with a
Chinese 404, so a site's server never even shows where a bank would be.

Decision: the blueprints stay registered and are refused per request, rather than left out: templates and
navigation build links to them by name, and `examctl run --role` may set the role after the app was built.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue

from exam_server.core.errors import refusal_response

CENTRE, SITE = "centre", "site"
ROLES = (CENTRE, SITE)
# Blueprints (URL tables) a site does not serve.
CENTRE_ONLY_BLUEPRINTS = frozenset({
    "bank", "assembly", "analysis", "grading", "results", "certificates", "applications", "reports", "skills",
})
# Single screens of blueprints a site otherwise serves: making packages and reading their release codes.
CENTRE_ONLY_ENDPOINTS = frozenset({"sitenode.exports", "sitenode.export_job", "sitenode.release_code"})
REFUSAL = "本机是考点服务器，不提供题库、组卷、阅卷、成绩发布等鉴定中心的功能。"


def node_role(app: Flask | None = None) -> str:
    return str((app or current_app).config.get("NODE_ROLE") or CENTRE)


def refuses(endpoint: str | None, app: Flask | None = None) -> bool:
    """True when this node's role does not serve `endpoint`."""
    if not endpoint or node_role(app) != SITE:
        return False
    return endpoint in CENTRE_ONLY_ENDPOINTS or endpoint.split(".", 1)[0] in CENTRE_ONLY_BLUEPRINTS


# A site's own screens: served everywhere (the matrix of who may use them holds on both roles), listed in the
# navigation only on a site, where they are the day's work.
SITE_SCREENS = frozenset({"sitenode.import_page", "sitenode.unseal_page"})


def hidden(endpoint: str, app: Flask | None = None) -> bool:
    """True when the navigation should not offer `endpoint` on this node."""
    return refuses(endpoint, app) or (endpoint in SITE_SCREENS and node_role(app) != SITE)


def _refuse_on_site() -> ResponseReturnValue | None:
    if refuses(request.endpoint):
        return refusal_response("centre_only", REFUSAL, 404)
    return None


def init_app(app: Flask) -> None:
    role = node_role(app)
    if role not in ROLES:
        raise ValueError(f"NODE_ROLE 只能是 centre 或 site，而不是 {role!r}")
    app.before_request(_refuse_on_site)
    # Navigation (core) asks through this, so core needs no import of this package.
    app.extensions["node_hides"] = lambda endpoint: hidden(endpoint, app)
