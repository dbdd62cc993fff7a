"""The item bank's screens (题库) and JSON API: the whole URL table of the bank in one place.

Each concern has its own module: `items` (search, editor, detail, diff), `review` (steps, tags, the queue),
`tree` (knowledge tree, weight table, coverage), `exchange` (import, export, template), `media` (images),
`sets` (题组) and `api` (JSON). Views parse, authorise, call `exam_server.bank.operations`, render; they
never commit, and a GET never writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from exam_server.bank.views import api, attributes, exchange, items, media, review, sets, tree
from exam_server.bank.views.common import EDIT_TYPES
from exam_server.extensions import db
from item_bank.attributes import COGNITIVE_LEVELS, definitions, describe
from item_bank.exchange.flat import TYPE_LABELS
from item_bank.review import STATUS_LABELS
from item_bank.tree import PART_LABELS
from item_bank.versions import FIELD_LABELS

blueprint = Blueprint("bank", __name__, url_prefix="/bank")

GET, POST, PUT = ("GET",), ("POST",), ("PUT",)

# (rule, endpoint, view, methods): endpoint names are what templates and other domains pass to url_for.
URLS: tuple[tuple[str, str, Callable[..., Any], tuple[str, ...]], ...] = (
    # Items
    ("/items", "items", items.items, GET),
    ("/items/new", "new_item", items.new_item, GET),
    ("/items", "create", items.create, POST),
    ("/items/<external_id>", "item_detail", items.item_detail, GET),
    ("/items/<external_id>", "revise", items.revise, POST),
    ("/items/<external_id>/edit", "edit_item", items.edit_item, GET),
    ("/items/<external_id>/diff", "diff", items.diff, GET),
    # Review
    ("/versions/<int:version_id>/tag", "tag_version", review.tag_version, POST),
    ("/versions/<int:version_id>/<action>", "act", review.act, POST),
    ("/review", "review_queue", review.review_queue, GET),
    ("/review/bulk", "bulk", review.bulk, POST),
    ("/review/batches/<int:batch_id>/approve", "approve_batch", review.approve_batch, POST),
    # Knowledge tree, weight table, coverage
    ("/tree", "tree", tree.tree, GET),
    ("/tree/seed", "tree_seed", tree.tree_seed, POST),
    ("/tree/areas", "tree_create", tree.tree_create, POST),
    ("/tree/areas/<int:area_id>", "tree_update", tree.tree_update, POST),
    ("/tree/weights", "tree_weights", tree.tree_weights, POST),
    ("/tree/export", "tree_export", tree.tree_export, GET),
    ("/tree/import", "tree_import", tree.tree_import, POST),
    ("/tree/imports/<int:job_id>", "tree_import_report", tree.tree_import_report, GET),
    ("/tree/imports/<int:job_id>/confirm", "tree_import_confirm", tree.tree_import_confirm, POST),
    ("/coverage", "coverage_page", tree.coverage_page, GET),
    # The bank's item attributes
    ("/attributes", "attributes", attributes.attributes, GET),
    ("/attributes", "attribute_define", attributes.attribute_define, POST),
    # Import and export
    ("/exchange", "exchange", exchange.exchange, GET),
    ("/exchange/import", "import_upload", exchange.import_upload, POST),
    ("/exchange/imports/<int:job_id>", "import_report", exchange.import_report, GET),
    ("/exchange/imports/<int:job_id>/confirm", "import_confirm", exchange.import_confirm, POST),
    ("/exchange/export", "export", exchange.export, POST),
    ("/exchange/template.xlsx", "template", exchange.template, GET),
    # Images
    ("/media", "upload", media.upload, POST),
    ("/media/<digest>", "media", media.media, GET),
    # Item sets
    ("/sets", "sets", sets.sets, GET),
    ("/sets", "create_set", sets.create_set, POST),
    ("/sets/<int:set_id>", "set_detail", sets.set_detail, GET),
    ("/sets/<int:set_id>", "update_set", sets.update_set, POST),
    # JSON API
    ("/api/items", "api_items", api.api_items, GET),
    ("/api/items", "api_create", api.api_create, POST),
    ("/api/items/<external_id>", "api_item", api.api_item, GET),
    ("/api/items/<external_id>", "api_revise", api.api_revise, PUT),
    ("/api/versions/<int:version_id>/transition", "api_transition", api.api_transition, POST),
    ("/api/review/bulk", "api_bulk", api.api_bulk, POST),
    ("/api/preview", "api_preview", api.api_preview, POST),
    ("/api/areas", "api_areas", api.api_areas, GET),
)

for _rule, _endpoint, _view, _methods in URLS:
    blueprint.add_url_rule(_rule, _endpoint, _view, methods=list(_methods))


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "TYPE_LABELS": TYPE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "PART_LABELS": PART_LABELS,
        "FIELD_LABELS": FIELD_LABELS,
        "EDIT_TYPES": EDIT_TYPES,
        "COGNITIVE_LEVELS": COGNITIVE_LEVELS,
        # A version's 认知层次 and attributes as (label, value) pairs (reads the definitions when a page asks).
        "describe_attributes": lambda version: describe(version, definitions(db.session)),
    }
