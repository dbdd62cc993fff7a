"""Exact and near-duplicate items: what the import, the item editor and the review queue flag.

Two items are compared on their *fingerprint*: the character bigrams of the stem, of every option (in
no order) and of the answer's text (the chosen options' words, a fill-in item's accepted answers), after
folding full width to half width, dropping spaces and punctuation and the particles 的/了/地/得/着. The
similarity is the Dice coefficient of the two fingerprints (0..1). Options and answer are part of it
because this bank is full of deliberate variants that share a stem word for word ("下列属于…" /
"下列不属于…" with other options, "一级" / "二级" with another answer): a reworded copy keeps the options
and the answer, a variant does not.

Calibration on the shipped bank (1,696 items, benchmarks/duplicates.py): at the threshold 0.85 this
flags 59 pairs of its distinct items (almost all one-word variants) and catches 95% of reworded copies
(characters swapped or replaced, clauses reordered, punctuation changed, 的/了 added, options shuffled);
the stem-only bigram Dice at 0.9 used before flagged 280 pairs and caught 46%.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from item_bank.kernel import process_cache
from item_bank.models import RETIRED, Item, ItemVersion
from item_bank.text import normalise_stem

DUPLICATE_THRESHOLD = 0.85
LETTERS = "ABCDEFGH"
# Particles a rewording adds or drops without changing the question.
_FILLERS = str.maketrans("", "", "的了地得着")
# A gram in more than this share of the bank is not used to find candidates (it is still counted in the
# score): "保安" or an option "正确" would otherwise make every item a candidate of every other.
_COMMON_SHARE = 0.05

Fingerprint = frozenset[str]
# The whole bank's finder, per database and bank state: the editor asks on every pause in typing, and
# fingerprinting the bank takes far longer (~0.3 s for 1,700 items) than asking it (~1 ms).
_FINDERS = process_cache("bank.duplicate_finders", max_entries=4)


def _norm(text: Any) -> str:
    return normalise_stem(str(text)).translate(_FILLERS) if text is not None else ""


def _grams(text: str, tag: str = "") -> set[str]:
    if len(text) < 2:
        return {tag + text} if text else set()
    return {tag + text[i : i + 2] for i in range(len(text) - 1)}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def answer_texts(content: Mapping[str, Any] | None, key: Any) -> list[str]:
    """The words of the answer: the chosen options of a choice item, a fill-in item's accepted answers."""
    options = list((content or {}).get("options") or [])
    if options and isinstance(key, str):
        return [options[LETTERS.index(c)] for c in key if c in LETTERS and LETTERS.index(c) < len(options)]
    return list(_strings(key))


def fingerprint(stem: str | None, content: Mapping[str, Any] | None = None, key: Any = None) -> Fingerprint:
    """The grams two items are compared on: stem, options (unordered) and answer, each tagged apart."""
    grams = _grams(_norm(stem))
    for option in (content or {}).get("options") or []:
        grams |= _grams(_norm(option), "o")
    for text in answer_texts(content, key):
        grams |= _grams(_norm(text), "k")
    return frozenset(grams)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Dice coefficient of two fingerprints, 0..1."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


@dataclass(frozen=True)
class Match:
    """A bank item a new or edited item resembles."""

    item_id: int
    external_id: str
    version_id: int
    score: float
    enemy_group: str | None

    @property
    def exact(self) -> bool:
        return self.score >= 1.0


@dataclass(frozen=True)
class _Entry:
    item_id: int
    external_id: str
    version_id: int
    grams: Fingerprint
    enemy_group: str | None


class DuplicateFinder:
    """The bank's current (not retired) items indexed by gram, to find those resembling a fingerprint.

    Finding is exact, not approximate: a candidate must share enough uncommon grams to reach the
    threshold at all, and the score of each candidate is its Dice coefficient.
    """

    def __init__(self, session: Session, exclude_ids: Iterable[str] = ()) -> None:
        excluded = set(exclude_ids)
        rows = session.execute(
            select(
                Item.id,
                Item.external_id,
                ItemVersion.id.label("version_id"),
                ItemVersion.stem,
                ItemVersion.content,
                ItemVersion.key,
                ItemVersion.enemy_group,
            )
            .join(ItemVersion, ItemVersion.id == Item.current_version_id)
            .where(ItemVersion.status != RETIRED)
        ).all()
        self.entries = [
            _Entry(r.id, r.external_id, r.version_id, fingerprint(r.stem, r.content, r.key), r.enemy_group)
            for r in rows
            if r.external_id not in excluded
        ]
        self.exact: dict[Fingerprint, int] = {}
        self._index: dict[str, list[int]] | None = None

    @classmethod
    def of_bank(cls, session: Session) -> DuplicateFinder:
        """The finder over the whole bank as it is now, reused while no item gains, changes or loses its
        current version (items and versions are only added; a retirement changes the retired count)."""
        items = session.execute(
            select(func.count(Item.id), func.coalesce(func.sum(Item.current_version_id), 0))
        ).one()
        versions = session.execute(
            select(
                func.count(ItemVersion.id),
                func.coalesce(func.max(ItemVersion.id), 0),
                func.coalesce(func.sum(case((ItemVersion.status == RETIRED, 1), else_=0)), 0),
            )
        ).one()
        key = (str(session.get_bind().url), tuple(items), tuple(versions))
        finder = _FINDERS.get(key)
        if finder is None:
            finder = cls(session)
            finder._build()  # built before it is shared, so readers never see it half made
            _FINDERS[key] = finder
        return finder

    def _build(self) -> dict[str, list[int]]:
        if self._index is None:
            index: dict[str, list[int]] = defaultdict(list)
            for i, entry in enumerate(self.entries):
                self.exact.setdefault(entry.grams, i)
                for g in entry.grams:
                    index[g].append(i)
            limit = max(20, int(len(self.entries) * _COMMON_SHARE))
            self._common = {g for g, hits in index.items() if len(hits) > limit}
            self._index = index
        return self._index

    def matches(
        self,
        grams: Fingerprint,
        threshold: float = DUPLICATE_THRESHOLD,
        *,
        limit: int = 3,
        exclude_item: int | None = None,
    ) -> list[Match]:
        """The bank items at or above `threshold`, most similar first (at most `limit`)."""
        if not grams or not self.entries:
            return []
        index = self._build()
        found: list[Match] = []
        exact = self.exact.get(grams)
        if exact is not None and self.entries[exact].item_id != exclude_item:
            e = self.entries[exact]
            found.append(Match(e.item_id, e.external_id, e.version_id, 1.0, e.enemy_group))
        rare = [g for g in grams if g not in self._common]
        common = len(grams) - len(rare)
        counts: dict[int, int] = defaultdict(int)
        if common >= threshold * len(grams) / 2:
            # Almost every gram is common (a very short item): the rare ones cannot rule anything out.
            counts.update(dict.fromkeys(range(len(self.entries)), len(grams)))
        for g in rare:
            for i in index.get(g, ()):
                counts[i] += 1
        for i, shared_rare in counts.items():
            e = self.entries[i]
            if e.item_id == exclude_item or (exact is not None and i == exact):
                continue
            # Dice >= t needs |a & b| >= t(|a| + |b|) / 2, and at most `common` of the shared grams are common.
            if shared_rare + common < threshold * (len(grams) + len(e.grams)) / 2:
                continue
            score = similarity(grams, e.grams)
            if score >= threshold:
                found.append(Match(e.item_id, e.external_id, e.version_id, score, e.enemy_group))
        found.sort(key=lambda m: (-m.score, m.external_id))
        return found[:limit]

    def best(self, grams: Fingerprint, threshold: float = DUPLICATE_THRESHOLD) -> Match | None:
        """The most similar bank item at or above `threshold`, if any."""
        hits = self.matches(grams, threshold, limit=1)
        return hits[0] if hits else None


def find_duplicates(
    session: Session,
    stem: str | None,
    content: Mapping[str, Any] | None,
    key: Any,
    *,
    exclude_item: int | None = None,
    threshold: float = DUPLICATE_THRESHOLD,
    limit: int = 3,
) -> list[Match]:
    """Bank items an item being written or reviewed resembles (itself left out), most similar first."""
    finder = DuplicateFinder.of_bank(session)
    return finder.matches(fingerprint(stem, content, key), threshold, limit=limit, exclude_item=exclude_item)


def duplicate_flags(
    session: Session, versions: Iterable[ItemVersion], threshold: float = DUPLICATE_THRESHOLD, limit: int = 3
) -> dict[int, list[Match]]:
    """For each version (a review queue's page), the other bank items it resembles, by version id."""
    wanted = list(versions)
    if not wanted:
        return {}
    finder = DuplicateFinder.of_bank(session)
    return {
        v.id: finder.matches(
            fingerprint(v.stem, v.content, v.key), threshold, limit=limit, exclude_item=v.item_id
        )
        for v in wanted
    }
