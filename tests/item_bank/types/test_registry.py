"""The registry is the only list of item types: every type has its module and its walkthrough, and what
lists types elsewhere (the JSON schema, the exam page's renderers, import spellings) agrees with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import item_bank.types as registry
from item_bank.types import TYPES, client_catalogue, item_types, section_types

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FAMILIES = {"__init__", "base", "choice", "human"}


def module_of(cls: type) -> str:
    return cls.__module__.rsplit(".", 1)[-1]


def test_every_type_module_is_registered_and_walked_through() -> None:
    modules = {p.stem for p in Path(registry.__file__).parent.glob("*.py")} - FAMILIES
    assert modules == {module_of(t) for t in TYPES}
    missing = [module_of(t) for t in TYPES if not (HERE / f"test_{module_of(t)}_walkthrough.py").is_file()]
    assert missing == [], f"add tests/item_bank/types/test_<module>_walkthrough.py for {missing}"


def test_names_labels_and_import_spellings_are_unambiguous() -> None:
    types = item_types()
    assert len({t.name for t in types}) == len({t.label for t in types}) == len(types)
    spellings = [s for t in types for s in {t.name, t.short_label, t.label, t.column_label, *t.aliases}]
    assert len(spellings) == len(set(spellings))


def test_json_schema_lists_the_section_types() -> None:
    schema = json.loads((ROOT / "item_bank/exchange/item_bank.schema.json").read_text(encoding="utf-8"))
    assert schema["$defs"]["item"]["properties"]["type"]["enum"] == list(section_types())


def test_the_exam_page_has_a_renderer_for_every_type_it_shows() -> None:
    script = (ROOT / "client/src/exam/exam.js").read_text(encoding="utf-8")
    block = script[script.index("var RENDERERS = {") :]
    for name, entry in client_catalogue().items():
        renderer = re.escape(entry["renderer"])
        assert re.search(rf'\n\s*"?{renderer}"?: function', block), f"{name}: no renderer {entry['renderer']}"
