"""Reference data shipped inside the package (README.md beside it says where it comes from)."""

from pathlib import Path

# Bock & Lieberman's LSAT section 7: five items, 32 patterns with frequencies.
LSAT7_CSV = Path(__file__).resolve().parent / "lsat7.csv"
