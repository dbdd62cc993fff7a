"""Item exchange: Excel, CSV, JSON and QTI 2.1 readers and writers around one validating store.

The operations people call are `item_bank.importing.import_items` and `item_bank.exporting.export_items`.
"""

from item_bank.exchange.records import (
    BankImportError,
    DuplicateFlag,
    ImportReport,
    ItemRecord,
    ParsedFile,
    RowProblem,
    SetRecord,
)

__all__ = [
    "BankImportError",
    "DuplicateFlag",
    "ImportReport",
    "ItemRecord",
    "ParsedFile",
    "RowProblem",
    "SetRecord",
]
