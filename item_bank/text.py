"""Text normalisation for the bank: the searchable stem and the similarity used to flag duplicates."""

from __future__ import annotations

import re
import unicodedata

# Punctuation, blanks and the "（ ）" answer gap carry no meaning when comparing two stems.
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise_stem(text: str | None) -> str:
    """The comparable form of a stem: NFKC (full width -> half width), casefolded, no spaces or punctuation."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return _NOISE.sub("", folded)


def bigrams(norm: str) -> set[str]:
    """Character bigrams of a normalised stem (a one-character stem is its own bigram)."""
    if len(norm) < 2:
        return {norm} if norm else set()
    return {norm[i : i + 2] for i in range(len(norm) - 1)}


def similarity(a: str, b: str) -> float:
    """Dice similarity of the character bigrams of two normalised stems, 0..1."""
    if a == b:
        return 1.0
    ga, gb = bigrams(a), bigrams(b)
    if not ga or not gb:
        return 0.0
    return 2 * len(ga & gb) / (len(ga) + len(gb))
