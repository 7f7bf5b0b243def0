"""The chronology as a document: what a court, a case reviewer or an inspector takes as
it is (issue 21). One model (``ChronologyDocument``: heading, columns with their widths,
cells, notes) made from the chronology's rows, written three ways:

- ``html``: one Jinja2 template (``templates/chronology.html`` with ``static/print.css``),
  which the console shows for preview and print;
- ``pdf``: the same HTML typeset by WeasyPrint: A4 portrait (court, practice) or A4
  landscape (review), a running header, "Page N of M" in the footer, the table's header
  repeated on every page and no row split across two pages;
- ``docx``: a Word file built to the same layout with python-docx: A4 set explicitly,
  20 mm margins, the header and footer with PAGE and NUMPAGES fields, the header row
  repeated (``w:tblHeader``), rows kept whole (``w:cantSplit``), a fixed table layout with
  each column's width in the grid and in every cell, so Word and LibreOffice agree.

Dates are written one way (dd/mm/yyyy, 24-hour HH:MM where the profile shows times,
London time); a correction is shown with what it changed, from what, why, by whom and
when; a late entry with the date it was recorded. Everything is a function of the rows
and the moment the document is as at: the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from aggregates.wording import words
from ledger.calendar import LONDON
from ledger.policies.schema import Pack
from projections import chronology as chronology_model
from projections import exports
from projections.chronology import ChronologyRow, Describe

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
FORMATS = ("pdf", "docx")
CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./:()-]{0,39}")
"""A court case number as a court writes it ("DE24C00123", "ZW25C50012", "MK 12/2026"):
short and printable, so it cannot break a header."""

FIELD_NAMES = {"occurred_at": "date and time", "about": "children it is about", "context": "details"}
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    width: float
    """Millimetres: the columns of a profile fill the page's text width."""
    key: str
    """The column's CSS class (``col-<key>``)."""


@dataclass(frozen=True)
class Cell:
    """One table cell: its main text, the note numbers marked after it (superscript) and
    further lines under it (a late entry's recording date, a correction, a document)."""

    text: str = ""
    notes: tuple[int, ...] = ()
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChronologyDocument:
    profile: str
    title: str
    standard: str
    council: str
    family: str
    members: tuple[str, ...]
    child: str | None
    """"Ava Stone, born 4 May 2016" for a child's own chronology."""
    case_number: str | None
    prepared_by: str
    prepared_on: str
    """dd/mm/yyyy."""
    as_at: str
    """dd/mm/yyyy HH:MM (London), and whether it was asked for or is the latest entry."""
    moment: datetime
    summary: str
    columns: tuple[Column, ...]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    """The court profile's notes (corrections), numbered from 1 in the order marked."""

    @property
    def landscape(self) -> bool:
        return self.profile == "review"

    @property
    def running_header(self) -> tuple[str, str]:
        """The two lines at the top of every page."""
        first = " · ".join([self.family, self.council]
                           + ([f"Case number {self.case_number}"] if self.case_number else []))
        return first, f"Prepared by {self.prepared_by} on {self.prepared_on} · As at {self.as_at}"

    @property
    def details(self) -> list[tuple[str, str]]:
        """The labelled lines under the title."""
        lines = [("Council", self.council), ("Family", f"{self.family}: {'; '.join(self.members)}")]
        if self.child:
            lines.append(("Chronology of", self.child))
        if self.case_number:
            lines.append(("Court case number", self.case_number))
        return [*lines, ("As at", self.as_at), ("Prepared by", f"{self.prepared_by} on {self.prepared_on}"),
                ("Prepared under", self.standard)]

    @property
    def filename_stem(self) -> str:
        return f"chronology-{self.profile}"


# --- dates and words, one way ------------------------------------------------------------------


def day(stored: str | None) -> str:
    """A stored moment's London date, as documents write dates (``exports.short_date``)."""
    found = exports.local_time(stored)
    return exports.short_date(found.date() if found else None)


moment = exports.short_moment
"""A stored moment (or a datetime) as documents write moments: dd/mm/yyyy HH:MM, London."""


def value_text(value: Any, members: Mapping[str, Mapping[str, Any]]) -> str:
    """A value a correction changed, as a person reads it: times and dates one way,
    members by name, lists joined, nothing as "(none)"."""
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value_text(v, members) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{words(k)} {value_text(v, members)}" for k, v in value.items())
    text = str(value)
    if ISO_MOMENT.match(text):
        return moment(text)
    if ISO_DAY.match(text):
        return f"{date.fromisoformat(text):%d/%m/%Y}"
    key = text.replace("-", "")
    if len(key) == 32 and key in members:
        return f"{members[key]['given_name']} {members[key]['family_name']}"
    return text


def event_name(kind: str) -> str:
    """An event type as words: ``ContactMade`` -> "Contact made"."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower().capitalize()


def person(source: Mapping[str, Any]) -> str:
    """Who recorded an entry (or a correction), by name where the record has one."""
    return str(source.get("recorded_by_name") or source.get("recorded_by") or "")


def correction_text(c: Mapping[str, Any], members: Mapping[str, Mapping[str, Any]]) -> str:
    """'Corrected on 27/01/2026 09:00 by Pat Smith, Family Support Worker: date and time was
    12/01/2026 10:00, now 13/01/2026 10:00. Reason: ...'"""
    changes = "; ".join(f"{FIELD_NAMES.get(name, words(name))} was {value_text(ch['from'], members)}, "
                        f"now {value_text(ch['to'], members)}" for name, ch in c["changes"].items())
    who = person(c)
    return (f"Corrected on {moment(c['recorded_at'])}" + (f" by {who}" if who else "")
            + f": {changes or 'no values changed'}. Reason: {c['reason']}")


# --- the profiles ------------------------------------------------------------------------------


Builder = Callable[[list[dict[str, Any]], Pack, Mapping[str, Mapping[str, Any]], dict[str, list[str]]],
                   tuple[list[list[Cell]], list[str]]]

COLUMNS: dict[str, tuple[Column, ...]] = {
    # A4 portrait: 210 mm less two 20 mm margins = 170 mm of text.
    "court": (Column("No.", 12, "serial"), Column("Date", 24, "date"), Column("Event detail", 92, "detail"),
              Column("Witness or document reference", 42, "reference")),
    "practice": (Column("Date or period", 23, "date"), Column("Source (person and agency)", 37, "source"),
                 Column("Significant event", 60, "detail"), Column("Impact on the child", 18, "impact"),
                 Column("Action taken (or why none)", 32, "action")),
    # A4 landscape: 297 mm less two 20 mm margins = 257 mm.
    "review": (Column("When (occurred; recorded)", 29, "date"), Column("Who (recorded by; agency)", 40, "source"),
               Column("What (event, summary, significance)", 86, "detail"),
               Column("Impact and action", 40, "action"), Column("Reference", 27, "reference"),
               Column("Flags (late entry, corrections, decision, breach)", 35, "flags")),
}


def _late_line(e: Mapping[str, Any], *, times: bool = False) -> tuple[str, ...]:
    if not e["late_entry"]:
        return ()
    return (f"Late entry: recorded {moment(e['recorded_at']) if times else day(e['recorded_at'])}",)


def _references(e: Mapping[str, Any], documents: dict[str, list[str]]) -> Cell:
    own = e["reference"] or ""
    listed = tuple(documents.get(e["event_id"] or "", []))
    return Cell(own, lines=listed) if own else Cell(listed[0] if listed else "", lines=listed[1:])


def _court(entries: list[dict[str, Any]], pack: Pack, members: Mapping[str, Mapping[str, Any]],
           documents: dict[str, list[str]]) -> tuple[list[list[Cell]], list[str]]:
    """PD12A: serial number, date, event detail, witness or document reference; a
    corrected entry marked with a note number, the notes after the table."""
    rows, notes = [], []
    for serial, e in enumerate(entries, start=1):
        marks = []
        for c in e["corrections"]:
            notes.append(correction_text(c, members))
            marks.append(len(notes))
        rows.append([Cell(str(serial)), Cell(day(e["occurred_at"]), lines=_late_line(e)),
                     Cell(e["summary"], tuple(marks)), _references(e, documents)])
    return rows, notes


def _agency(e: Mapping[str, Any], pack: Pack) -> str:
    s = e["source"]
    if s["recorded_by"] is None:
        return s["agency"] or ""
    return s["agency"] or f"{pack.council} early help, team {s['team']}"


def _practice(entries: list[dict[str, Any]], pack: Pack, members: Mapping[str, Mapping[str, Any]],
              documents: dict[str, list[str]]) -> tuple[list[list[Cell]], list[str]]:
    """Date, source, significant event, impact on the child, action taken (or why none);
    corrections and documents under the event, a late entry under its date."""
    rows = []
    for e in entries:
        who = person(e["source"])
        event = Cell(e["summary"], lines=tuple(correction_text(c, members) for c in e["corrections"])
                     + tuple(documents.get(e["event_id"] or "", [])) + ((f"Reference: {e['reference']}",)
                                                                         if e["reference"] else ()))
        rows.append([Cell(day(e["occurred_at"]), lines=_late_line(e)),
                     Cell(who, lines=(_agency(e, pack),)) if who else Cell(_agency(e, pack)),
                     event, Cell(e["impact_on_child"] or ""), Cell(e["action_taken"] or "none recorded")])
    return rows, []


def _review(entries: list[dict[str, Any]], pack: Pack, members: Mapping[str, Mapping[str, Any]],
            documents: dict[str, list[str]]) -> tuple[list[list[Cell]], list[str]]:
    """Everything, in six columns that fit landscape A4: when (both times), who (and the
    agency), what (event, summary, significance), impact and action, reference, flags
    (late entry, corrections, management decision, practice breach)."""
    rows = []
    for e in entries:
        s = e["source"]
        who = person(s)
        role = ", ".join(p for p in (s["role"], f"team {s['team']}" if s["team"] else "") if p)
        kind = exports.decision(e)
        late = [(rule.title if (rule := pack.rule(r)) else r) for r in e["late_rules"]]
        flags = [*(("Late entry, after: " + "; ".join(late),) if e["late_entry"] else ()),
                 *(correction_text(c, members) for c in e["corrections"]),
                 *((f"Management decision: {kind}",) if kind else ()),
                 *(f"Practice breach: {b['title']} ({b['rule']})" for b in e.get("breaches", []))]
        impact = [f"Impact on the child: {e['impact_on_child']}" if e["impact_on_child"] else "",
                  f"Action: {e['action_taken']}" if e["action_taken"] else ""]
        impact = [t for t in impact if t]
        rows.append([
            Cell(moment(e["occurred_at"]), lines=(f"recorded {moment(e['recorded_at'])}",) if e["recorded_at"] else ()),
            Cell(f"{who} ({role})" if who and role else who, lines=(_agency(e, pack),) if _agency(e, pack) else ()),
            Cell(event_name(e["type"]),
                 lines=(e["summary"],) + ((f"Significance: {e['significance']}",) if e["significance"] else ())),
            Cell(impact[0] if impact else "", lines=tuple(impact[1:])),
            _references(e, documents),
            Cell(flags[0] if flags else "", lines=tuple(flags[1:])),
        ])
    return rows, []


BUILDERS: dict[str, Builder] = {"court": _court, "practice": _practice, "review": _review}


def build(rows: Sequence[ChronologyRow], members: dict[str, dict[str, Any]], pack: Pack, *, profile: str,
          member: UUID | None = None, as_at: datetime | None = None, case_number: str | None = None,
          prepared_by: str, prepared_on: date, staff: Describe | None = None) -> ChronologyDocument:
    """The document of one family's (or member's) chronology in a profile, as the record
    stood at ``as_at`` (the rows given must be that record) or as now recorded; people
    named by ``staff`` (``Ledger.describe``)."""
    if profile not in BUILDERS:
        raise ValueError(f"profile must be one of {', '.join(BUILDERS)}")
    at = as_at or exports.latest_recorded(rows)
    entries = chronology_model.view(rows, members, member=member, significant_only=profile != "review",
                                    staff=staff)
    cells, notes = BUILDERS[profile](entries, pack, members, exports.documents_by_entry(rows))
    about = exports.involvement(rows, members, pack, member, at)
    title, standard = exports.TITLES[profile]
    child = None
    if about["child"]:
        found = about["child"]
        born = found["date_of_birth"]
        child = found["name"] + (f", born {exports.long_date(date.fromisoformat(born))}" if born else "")
    return ChronologyDocument(
        profile=profile, title=title, standard=standard, council=pack.council, family=about["family"],
        members=tuple(exports.household(members)), child=child,
        case_number=case_number, prepared_by=prepared_by, prepared_on=f"{prepared_on:%d/%m/%Y}",
        as_at=moment(at) + ("" if as_at else " (the latest entry recorded)"), moment=at,
        summary=about["summary"], columns=COLUMNS[profile], rows=cells, notes=notes)


# --- HTML (the console's preview and the PDF's source) ------------------------------------------


_environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def html(document: ChronologyDocument, *, stylesheet: str = "print.css",
         preview: Mapping[str, str] | None = None) -> str:
    """The document as one HTML page. ``stylesheet``: where the page finds ``print.css``
    (beside it for the PDF, the console's static path for the console); ``preview``:
    links (label -> address) the console shows above the document, none in the PDF."""
    created = document.moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _environment.get_template("chronology.html").render(
        document=document, stylesheet=stylesheet, preview=preview or {}, created=created)


# --- PDF --------------------------------------------------------------------------------------


def local_only() -> Any:
    """WeasyPrint's URL fetcher: the package's own static files, nothing else (no
    network, no other file): a document is typeset from what ships with the service,
    and a reference to anything else stops it (``fail_on_errors``)."""
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    class LocalOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("file://"):
                raise ValueError(f"documents fetch nothing from elsewhere: {url[:80]}")
            path = Path(url.removeprefix("file://").split("?")[0]).resolve()
            if not path.is_relative_to(STATIC):
                raise ValueError(f"documents read only their own static files, not {path.name}")
            return super().fetch(url, headers)

    return LocalOnly(allowed_protocols=("file",), allow_redirects=False, fail_on_errors=True)


def pdf(document: ChronologyDocument) -> bytes:
    """The document typeset to PDF by WeasyPrint (fonts from fontconfig: DejaVu), dated
    by the moment it is as at, with a fixed identifier: the same inputs, the same bytes."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    source = HTML(string=html(document), base_url=str(STATIC) + "/", url_fetcher=local_only())
    identifier = f"{document.profile}-{document.moment.isoformat()}".encode()
    found: bytes = source.write_pdf(pdf_identifier=identifier, uncompressed_pdf=False)
    return found


# --- Word -------------------------------------------------------------------------------------


def _field(paragraph: Any, instruction: str, shown: str) -> None:
    """A Word field (PAGE, NUMPAGES) as begin / instruction / separate / result / end runs."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def char(kind: str) -> Any:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    run = paragraph.add_run()
    run._r.append(char("begin"))
    run = paragraph.add_run()
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = f" {instruction} "
    run._r.append(text)
    paragraph.add_run()._r.append(char("separate"))
    paragraph.add_run(shown)
    paragraph.add_run()._r.append(char("end"))


def _row_properties(row: Any, *, header: bool) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    properties = row._tr.get_or_add_trPr()
    keep = OxmlElement("w:cantSplit")  # a row is never split across two pages
    keep.set(qn("w:val"), "true")
    properties.append(keep)
    if header:
        repeat = OxmlElement("w:tblHeader")  # the header row repeats on every page
        repeat.set(qn("w:val"), "true")
        properties.append(repeat)


def _fill(cell: Any, content: Cell, *, bold: bool = False) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.add_run(content.text).bold = bold or None
    for number in content.notes:
        paragraph.add_run(str(number)).font.superscript = True
    for line in content.lines:
        cell.add_paragraph(line)


def docx(document: ChronologyDocument) -> bytes:
    """The document as a Word file: A4 (landscape for the review profile), 20 mm margins,
    the running header and "Page N of M" as fields, the table with fixed column widths,
    the header row repeated and no row split; core properties and zip entries dated by
    the moment it is as at (the same inputs give the same bytes)."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    word = Document()
    utc = document.moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    props = word.core_properties
    props.author, props.title, props.comments = "Early Help case ledger", document.title, ""
    props.last_modified_by, props.revision = "Early Help case ledger", 1
    props.created = props.modified = utc
    section = word.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE if document.landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (Mm(297), Mm(210)) if document.landscape else (Mm(210), Mm(297))
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(20))
    section.header_distance = section.footer_distance = Mm(10)
    normal = word.styles["Normal"]
    normal.font.name, normal.font.size = "DejaVu Sans", Pt(9)
    normal.paragraph_format.space_after = Pt(2)

    first, second = document.running_header
    header = section.header.paragraphs[0]
    header.text = first
    section.header.add_paragraph(second)
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Page ")
    _field(footer, "PAGE", "1")
    footer.add_run(" of ")
    _field(footer, "NUMPAGES", "1")

    word.add_heading(document.title, level=1)
    for label, value in document.details:
        paragraph = word.add_paragraph()
        paragraph.add_run(f"{label}: ").bold = True
        paragraph.add_run(value)
    word.add_heading("Summary of involvement", level=2)
    word.add_paragraph(document.summary)

    grid = word.add_table(rows=1, cols=len(document.columns))
    grid.style = "Table Grid"
    grid.autofit = False
    table = grid._tbl
    table_properties = table.tblPr
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    table_properties.append(layout)
    width = OxmlElement("w:tblW")
    width.set(qn("w:w"), str(sum(_twips(c.width) for c in document.columns)))
    width.set(qn("w:type"), "dxa")
    for old in table_properties.findall(qn("w:tblW")):
        table_properties.remove(old)
    table_properties.append(width)
    for column, grid_column in zip(document.columns, table.tblGrid.findall(qn("w:gridCol")), strict=True):
        grid_column.set(qn("w:w"), str(_twips(column.width)))
    _row_properties(grid.rows[0], header=True)
    for cell, column in zip(grid.rows[0].cells, document.columns, strict=True):
        _fill(cell, Cell(column.name), bold=True)
    for values in document.rows:
        row = grid.add_row()
        _row_properties(row, header=False)
        for cell, content in zip(row.cells, values, strict=True):
            _fill(cell, content)
    for row in grid.rows:
        for cell, column in zip(row.cells, document.columns, strict=True):
            cell.width = Mm(column.width)
    if document.notes:
        word.add_heading("Notes", level=2)
        for number, note in enumerate(document.notes, start=1):
            word.add_paragraph(f"{number}. {note}")
    raw = io.BytesIO()
    word.save(raw)
    return fixed_zip(raw.getvalue(), document.moment)


def _twips(millimetres: float) -> int:
    return round(millimetres / 25.4 * 1440)


def fixed_zip(content: bytes, moment: datetime) -> bytes:
    """The same zip with every entry stamped ``moment`` (London time, as zip times are
    local) instead of the time it was written."""
    stamp = moment.astimezone(LONDON).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(entry.filename))
    return out.getvalue()


RENDERERS: dict[str, Callable[[ChronologyDocument], bytes]] = {"pdf": pdf, "docx": docx}
