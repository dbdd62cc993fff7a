"""Data files shipped inside the package, so an installed copy or a bare clone runs the demo and the tests."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
# The public 保安员 bank of 1,696 items (README.md beside it says where it comes from).
DEMO_BANK_CSV = DATA_DIR / "baoan_items.csv"
