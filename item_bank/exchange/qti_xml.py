"""The QTI 2.1 vocabulary an item type needs to write and read its own interaction.

`item_bank.exchange.qti` writes and reads whole content packages (manifest, images, our metadata note);
each item type in `item_bank.types` writes its response declarations, its interaction and its response
processing with `sub`, and reads them back from a `QtiItem`. Knowing no item type, this module is what
both sides import.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
MATCH_CORRECT = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"


def q(tag: str) -> str:
    """`tag` in the QTI namespace."""
    return f"{{{QTI_NS}}}{tag}"


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str | None) -> ET.Element:
    """A QTI child element of `parent`; attributes given as None are left out."""
    el = ET.SubElement(parent, q(tag), {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def text_of(el: ET.Element | None) -> str:
    return "" if el is None else "".join(el.itertext())


@dataclass
class QtiItem:
    """One assessmentItem being read (namespaces stripped), as an item type sees it."""

    root: ET.Element
    body: ET.Element
    #: The item's interactions, all of one kind (the package reader refuses mixed items).
    interactions: list[ET.Element]
    declarations: dict[str | None, ET.Element]
    #: The body's text outside interactions and scorer rubrics: a foreign item's stem.
    loose_text: Callable[[], str]
    #: Report a problem with this item: (QTI element or attribute, reason).
    problem: Callable[[str, str], None]

    def declaration(self, interaction: ET.Element) -> ET.Element | None:
        return self.declarations.get(interaction.get("responseIdentifier"))


@dataclass
class QtiRead:
    """What an item type read from an item: its stem, content, key and what tells its sibling types apart."""

    stem: str
    content: dict[str, Any]
    key: Any
    #: Facts a type of the same interaction matches on (`ItemType.qti_match`): cardinality, length ...
    facts: dict[str, Any]
