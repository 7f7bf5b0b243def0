"""CSV as every export writes it: cells a spreadsheet cannot mistake for formulas.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run
as a formula by Excel, LibreOffice and Google Sheets when the file is opened ("CSV
injection"): a case note typed as ``=HYPERLINK(...)`` would become a live link in a
reviewer's spreadsheet. Following the OWASP rule, such a cell is written with a leading
apostrophe, which spreadsheets show as text and hide; every other cell is unchanged.
Every CSV the ledger writes (chronology profiles, subject access, Annex A, SSD) goes
through ``writer``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell as written: text that could start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` (CRLF line ends) whose every text cell passes ``safe_cell``."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO) -> SafeWriter:
    return SafeWriter(out)
