"""Court-ready chronology documents (issue 21): each profile as PDF and as Word, read as a
person would read it: the paper (A4, landscape for the review), the running header
(family, council, case number, who prepared it and when, as at), "Page N of M", the
columns' widths, a corrected entry's note with the original wording and the reason, a
late entry's recording date, dates one way (no ISO timestamp), workers by name.

The family is the Stone family of ``tests/test_exports.py`` (Durham): a home visit typed
in five days late, an assessment's start corrected from the Monday to the Tuesday, a
disclosure whose reference was corrected; here, the school's statement recorded as a
document regarding the disclosure, and the workers in the staff directory.
PNGs of each PDF's first page go to ``test-output/documents/`` to look at.
"""

# ruff: noqa: F811  (the fixtures of tests/test_exports.py, imported, are the tests' arguments)
from __future__ import annotations

import io
import re
import subprocess
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.shared import Mm
from fastapi.testclient import TestClient

from tests.conftest import MANAGER, PRACTITIONER, auth
from tests.test_exports import Recorder, at, client, clock, families  # noqa: F401  (fixtures)

pytestmark = pytest.mark.one_database

OUT = Path(__file__).resolve().parent.parent / "test-output" / "documents"
ADMIN = auth("admin", "root", None)
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T")
CASE = "DE26C00123"
STATEMENT = "Statement of Ms Head"


@pytest.fixture
def stone(client: TestClient, clock: Any, families: dict[str, Any]) -> dict[str, Any]:
    """The Stones with the school's statement filed against the disclosure, and the
    workers named in the staff directory."""
    for user_id, name, title in (("pat", "Pat Quinn", "Family Support Worker"),
                                 ("meg", "Meg Rowe", "Early Help Team Manager"),
                                 ("sam", "Sam Jones", "Senior Family Support Worker"),
                                 ("kim", "Kim Hall", "Family Support Worker")):
        r = client.put(f"/staff/{user_id}", headers=ADMIN, json={"name": name, "job_title": title})
        assert r.status_code in (200, 201), r.text
    Recorder(client, clock)(families["stone"], at("2026-03-21"), {
        "type": "DocumentRecorded", "document": "case-summary", "title": STATEMENT, "regarding": families["note"]})
    return families


def document(client: TestClient, fid: str, profile: str, fmt: str, **params: Any) -> bytes:
    r = client.get(f"/families/{fid}/chronology", headers=MANAGER,
                   params={"profile": profile, "format": fmt, "case_number": CASE, **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == {"pdf": "application/pdf", "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")}[fmt]
    return r.content


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def pdf_pages(content: bytes, tmp_path: Path) -> tuple[int, list[str]]:
    """(pages, each page's size in points as pdfinfo gives it)."""
    path = tmp_path / "document.pdf"
    path.write_bytes(content)
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(path)], check=True, capture_output=True,
                          text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+ x [\d.]+) pts", info, re.M)
    return pages, sizes


# --- PDF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile, size", [("court", "595.276 x 841.89"), ("practice", "595.276 x 841.89"),
                                           ("review", "841.89 x 595.276")])
def test_each_profile_as_pdf_is_a4_with_its_header_page_numbers_and_no_iso_time(client, stone, tmp_path,
                                                                                  profile, size):
    content = document(client, stone["stone"], profile, "pdf")
    pages, sizes = pdf_pages(content, tmp_path)
    assert pages >= 1 and set(sizes) == {size}  # A4 portrait (court, practice) or landscape (review)
    text = pdf_text(content, tmp_path)
    flat = " ".join(text.split())
    # The running header on every page, the footer's "Page N of M".
    assert flat.count("Stone family · Durham County Council · Case number DE26C00123") == pages
    assert flat.count("Prepared by Meg Rowe, Early Help Team Manager on ") == pages
    assert f"Page 1 of {pages}" in flat and f"Page {pages} of {pages}" in flat
    assert "As at 21/03/2026 10:05" in flat
    assert not ISO.search(text), ISO.search(text)
    # Workers by name, never by their user id alone.
    assert "Pat Quinn" in flat
    assert " pat " not in f" {flat} "
    # The first page is a page, not a blank.
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{profile}.pdf").write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(OUT / f"{profile}.pdf"),
                    str(OUT / profile)], check=True)
    assert _inked(OUT / f"{profile}.png") > 0.01
    # The same inputs, the same bytes.
    assert document(client, stone["stone"], profile, "pdf") == content


def _inked(png: Path) -> float:
    """The share of the page's pixels that are not white."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        pixels = list(grey.tobytes())
    return sum(1 for p in pixels if p < 200) / len(pixels)


def test_the_court_pdf_marks_a_corrected_entry_and_gives_the_original_and_the_reason_in_a_note(
        client, stone, tmp_path):
    text = " ".join(pdf_text(document(client, stone["stone"], "court", "pdf"), tmp_path).split())
    assert "Notes" in text
    assert ("Corrected on 27/01/2026 09:30 by Pat Quinn, Family Support Worker: reference was Case note 26/01, "
            "now Statement of Ms Head, paragraph 4. Reason: the school's statement") in text
    # The document filed regarding the disclosure is in its reference column.
    assert f"Document: Case summary ({STATEMENT})" in text or STATEMENT in text


def test_a_late_entry_shows_when_it_was_recorded(client, stone, tmp_path):
    review = " ".join(pdf_text(document(client, stone["stone"], "review", "pdf"), tmp_path).split())
    assert "09/01/2026 10:00 recorded 14/01/2026 16:00" in review
    assert "Late entry, after: Contemporaneous recording" in review and "recording-within-" not in review
    assert ("date and time was 12/01/2026 10:00, now 13/01/2026 10:00. Reason: the assessment started on the "
            "Tuesday, not the Monday") in review


# --- Word -------------------------------------------------------------------------------------


def _word(content: bytes) -> Any:
    return docx.Document(io.BytesIO(content))


@pytest.mark.parametrize("profile", ["court", "practice", "review"])
def test_each_profile_as_word_is_a4_with_fields_a_repeating_header_row_and_fitted_columns(client, stone, profile):
    content = document(client, stone["stone"], profile, "docx")
    word = _word(content)
    section = word.sections[0]
    width, height = (Mm(297), Mm(210)) if profile == "review" else (Mm(210), Mm(297))
    assert abs(section.page_width - width) < Mm(0.1) and abs(section.page_height - height) < Mm(0.1)
    assert abs(section.left_margin - Mm(20)) < Mm(0.1) and abs(section.right_margin - Mm(20)) < Mm(0.1)
    header = " ".join(p.text for p in section.header.paragraphs)
    assert "Stone family · Durham County Council · Case number DE26C00123" in header
    assert "Prepared by Meg Rowe, Early Help Team Manager on " in header and "As at 21/03/2026 10:05" in header
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        footers = [z.read(n).decode() for n in z.namelist() if n.startswith("word/footer")]
        body = z.read("word/document.xml").decode()
    assert any(" PAGE " in f and " NUMPAGES " in f and "Page " in f and " of " in f for f in footers)
    [table] = word.tables
    assert 'w:tblHeader w:val="true"' in body or "<w:tblHeader/>" in body
    assert body.count("<w:cantSplit") == len(table.rows)
    assert '<w:tblLayout w:type="fixed"/>' in body
    widths = [c.width for c in table.rows[1].cells]
    names = [c.text for c in table.rows[0].cells]
    detail = next(i for i, n in enumerate(names) if n.startswith(("Event detail", "Significant event", "What")))
    date_column = next(i for i, n in enumerate(names) if n.startswith(("Date", "When")))
    assert widths[detail] > 2 * widths[date_column]
    assert abs(sum(widths) - (width - Mm(40))) < Mm(1)  # the columns fill the text width
    text = "\n".join([p.text for p in word.paragraphs] + [c.text for r in table.rows for c in r.cells])
    assert not ISO.search(text)
    assert "Pat Quinn" in text
    assert _word(document(client, stone["stone"], profile, "docx")).core_properties.created == datetime(
        2026, 3, 21, 10, 5, tzinfo=timezone.utc)
    assert document(client, stone["stone"], profile, "docx") == content


def test_the_court_word_document_numbers_its_notes_and_marks_late_entries(client, stone):
    word = _word(document(client, stone["stone"], "court", "docx", member=stone["ava"]))
    notes = [p.text for p in word.paragraphs if re.match(r"\d+\. Corrected on ", p.text)]
    assert any("reference was Case note 26/01, now Statement of Ms Head, paragraph 4. Reason: the school's "
               "statement" in n for n in notes)
    [table] = word.tables
    rows = [[c.text for c in r.cells] for r in table.rows]
    disclosure = next(r for r in rows if r[2].startswith("Ava said she is frightened at home"))
    assert re.fullmatch(r"Ava said she is frightened at home\d+", disclosure[2])  # the note's number, superscript
    assert "Statement of Ms Head, paragraph 4" in disclosure[3] and STATEMENT in disclosure[3]


def test_the_practice_word_document_shows_a_late_entry_under_its_date(client, stone):
    word = _word(document(client, stone["stone"], "review", "docx"))
    rows = [[c.text for c in r.cells] for r in word.tables[0].rows]
    visit = next(r for r in rows if r[2].startswith("Contact made"))
    assert visit[0] == "09/01/2026 10:00\nrecorded 14/01/2026 16:00"
    assert "Late entry" in visit[5]


# --- over HTTP and the command line ---------------------------------------------------------------


def test_a_bad_case_number_or_format_is_a_problem_and_changes_nothing(client, stone):
    path = f"/families/{stone['stone']}/chronology"
    for params, words in [({"profile": "court", "format": "pdf", "case_number": "x" * 41}, "case_number"),
                          ({"profile": "court", "format": "pdf", "case_number": "DE26<script>"}, "case_number"),
                          ({"profile": "court", "format": "rtf"}, "format"),
                          ({"format": "pdf"}, "needs a profile")]:
        r = client.get(path, params=params, headers=PRACTITIONER)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.text, r.text


def test_ledger_export_writes_the_pdf_with_the_case_number(client, stone, ledger_cli, tmp_path):
    out = tmp_path / "court.pdf"
    result = ledger_cli("export", "chronology", "--family", stone["stone"], "--profile", "court", "--format", "pdf",
                        "--case-number", CASE, "--prepared-by", "meg", "--output", str(out))
    assert result.exit_code == 0, result.output
    # The same document as over HTTP, but for the day it was prepared (the command line's clock).
    prepared = re.compile(r"(Prepared by[^\n]*? on\s+)\d\d/\d\d/\d{4}")
    assert prepared.sub(r"\1(day)", pdf_text(out.read_bytes(), tmp_path)) == prepared.sub(
        r"\1(day)", pdf_text(document(client, stone["stone"], "court", "pdf"), tmp_path))
