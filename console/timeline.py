"""A family's deadlines drawn as a timeline: one standalone SVG element, made on the server.

The family page shows its deadlines as a table and as this picture, which an auditor reads
on screen and a case review prints. So the picture is plain SVG built as text: no script,
no external font or image, and no ``style`` attribute or ``<style>`` element (the console's
Content-Security-Policy allows no inline CSS; presentation attributes are not CSS). Every
piece of text in it is XML-escaped, since titles and names are user data, and the page
embeds it with ``|safe``. Colour is never the only cue: each state also has a letter in
the status column and a fill or outline of its own, so it reads in black and white.

What a ``ClockRow`` cannot tell, the picture does not guess (see ``timeline_svg``).
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from console.folding import Line, fold
from ledger.calendar import LONDON, WorkingCalendar, add_months
from ledger.deadlines import ClockRow

FONT = "Arial, sans-serif"
INK = "#0b0c0c"  # GOV.UK black: text, due marks, the today line
SHADE = "#f3f2f1"  # GOV.UK light grey: every other row, so a label leads the eye to its bar
RULE = "#b1b4b6"  # GOV.UK mid grey: gridlines and the window a bar did not fill
PAD = 12
ROW = 22  # the height of one row
BAR = 12  # the height of a bar in it
LABEL_SIZE = 12
AXIS_SIZE = 11
BADGE = 16  # the side of the status letter's box
TICK_GAP = 14  # the least space between two tick labels
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""Month names in English whatever the server's locale (``%b`` follows LC_TIME)."""


@dataclass(frozen=True)
class Look:
    """How one state is drawn: its colour (>= 3:1 against white, GOV.UK palette), its
    legend name, the letter in its status box, and its non-colour cue on the bar."""

    name: str
    colour: str
    letter: str
    fill: str
    """``solid``, ``stripes`` (diagonal white stripes), ``bars`` (upright white bars, as a
    pause sign), ``none`` (a dashed outline only) or ``diamond`` (a marker, not a bar)."""
    counted: str
    """The state as the description counts it ("2 overdue")."""


LOOKS: dict[str, Look] = {
    "overdue": Look("Overdue", "#d4351c", "!", "stripes", "overdue"),
    "met_late": Look("Met late", "#b58840", "L", "solid", "met late"),
    "paused": Look("Paused", "#505a5f", "P", "bars", "paused"),
    "open": Look("Running", "#1d70b8", "R", "solid", "running"),
    "extended": Look("Running, extended", "#28a197", "E", "solid", "running after an extension"),
    "met": Look("Met", "#00703c", "M", "solid", "met"),
    "not_applicable": Look("Ended before due", "#505a5f", "\u2013", "none", "ended before due"),
    "breach": Look("Ordering-rule breach", "#4c2c92", "B", "diamond", "ordering-rule breach"),
}
"""Every state of ``ledger.deadlines.State``, in the order the legend and the description
list them: what needs attention first. GOV.UK orange (#f47738) is not used: 2.8:1 on white."""


# -- the rows, as the picture needs them ---------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of the picture: a clock's bar or a breach's marker, in day numbers (days
    since 1 January of year 1 in London, the fraction of the day after the point)."""

    state: str
    title: str
    child: str | None
    tooltip: str
    start: float
    end: float | None = None
    """Where the bar stops: when the clock stopped, or its due (today for a clock still
    running past it). None: a breach, drawn as a marker at ``start``."""
    due: float | None = None
    original_due: float | None = None
    """The due before the row's extensions, where it has any."""
    history: tuple[Span, ...] = ()
    """The earlier clocks of the rule and child folded into this row (``console.folding``),
    merged into spans where one ended as the next began in the same state."""
    history_note: str = ""
    """The folded clocks in words, for the history's tooltip."""
    folded: int = 0
    """How many earlier clocks are folded into the row."""


@dataclass(frozen=True)
class Span:
    """Earlier clocks of one state, end to end, from ``start`` to ``end`` (day numbers)."""

    state: str
    start: float
    end: float


def day_number(value: date | datetime) -> float:
    """A date (its start) or an instant (naive: London time) on one scale of days."""
    if not isinstance(value, datetime):
        return float(value.toordinal())
    local = value.astimezone(LONDON) if value.tzinfo is not None else value
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return local.toordinal() + seconds / 86400


def due_number(row: ClockRow) -> float | None:
    """A due date counts to the end of its day: the instant ``due_at`` says, else the day."""
    if row["due_at"] is not None:
        return day_number(row["due_at"])
    due = row["due"]
    if due is None:
        return None
    return day_number(due) if isinstance(due, datetime) else day_number(due) + 1


def original_due(row: ClockRow) -> float | None:
    """The due before the extensions: counted back from the due by ``extended_by`` of the
    rule's unit, so pauses, which push the due back after it is counted, stay in it.
    Working days are counted with the bank holidays: a pack's own closure days are not in
    the row, so a closure within the extension puts the mark a working day early."""
    due, unit, extra = row["due"], row["unit"], row["extended_by"]
    if not extra or due is None or unit is None:
        return None
    if isinstance(due, datetime):  # an hours clock: elapsed hours, whatever the clocks do
        return day_number((row["due_at"] or due).astimezone(LONDON) - timedelta(hours=extra))
    if unit == "working_days":
        return day_number(working_days_before(due, extra)) + 1
    if unit in ("calendar_days", "weeks"):
        return day_number(due - timedelta(days=extra * (7 if unit == "weeks" else 1))) + 1
    if unit == "months":
        return day_number(months_before(row, due, extra)) + 1
    return None


def working_days_before(day: date, n: int) -> date:
    """The working day ``n`` working days before ``day``."""
    calendar = WorkingCalendar()
    while n:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            n -= 1
    return day


def months_before(row: ClockRow, due: date, extra: int) -> date:
    """A month clock's due without its extension: its start plus its duration, moved on
    by the days a pause added (the due less the start plus the whole extended length)."""
    started, duration = row["started_at"], row["duration"]
    if started is None or duration is None:
        return add_months(due, -extra)
    start = started.astimezone(LONDON).date() if started.tzinfo is not None else started.date()
    paused = (due - add_months(start, duration + extra)).days
    return add_months(start, duration) + timedelta(days=paused)


def is_running(row: ClockRow) -> bool:
    """Still counting: neither stopped nor ended (by an event; a birthday ends a
    clock with no event, which the row cannot tell apart from a running one)."""
    return row["stopped_at"] is None and row["ended_by"] is None


def plan_line(line: Line, today: float) -> Row | None:
    """The line's row (``plan``), with its folded earlier clocks as spans."""
    row = plan(line.clock, today)
    if row is None or not line.earlier:
        return row
    return replace(row, history=tuple(spans(line.earlier, today)), history_note=history_words(line),
                   folded=len(line.earlier))


def spans(earlier: Sequence[ClockRow], today: float) -> Iterator[Span]:
    """Each earlier clock from its start to where its bar would end, merged with the next
    where that one starts by the end of this one's day in the same state."""
    current: Span | None = None
    for clock in earlier:
        placed = extent(clock, today)
        if placed is None:
            continue
        start, end = placed
        if current is not None and current.state == clock["state"] and start <= current.end + 1:
            current = Span(current.state, current.start, max(current.end, end))
            continue
        if current is not None:
            yield current
        current = Span(clock["state"], start, end)
    if current is not None:
        yield current


def history_words(line: Line) -> str:
    """"24 earlier clocks of this rule, 03/02/2025 to 01/12/2025: 22 met, 2 met late"."""
    count = len(line.earlier)
    first = line.earlier[0]["started_at"]
    ends = [c["stopped_at"] or c["due_at"] or c["started_at"] for c in line.earlier]
    last = max(e for e in ends if e is not None)
    how = ", ".join(f"{n} {LOOKS[state].counted}" for state, n in sorted(
        line.counts.items(), key=lambda item: list(LOOKS).index(item[0])))
    span = f", {day_shown(first)} to {day_shown(last)}" if first is not None and last is not None else ""
    return f"{count} earlier clock{'' if count == 1 else 's'} of this rule{span}: {how}."


def extent(row: ClockRow, today: float) -> tuple[float, float] | None:
    """Where a clock's bar starts and ends (a breach: a day at its entry), or None where
    it has no place on a time axis."""
    if row["started_at"] is None:
        return None
    start = day_number(row["started_at"])
    if row["state"] == "breach":
        return start, start + 1
    due = due_number(row)
    if due is None:
        return None
    if row["stopped_at"] is not None:
        return start, max(start, day_number(row["stopped_at"]))  # a stop recorded before the start: at it
    if row["state"] == "overdue" and is_running(row):
        return start, max(due, today)
    return start, due


def plan(row: ClockRow, today: float) -> Row | None:
    """The row's bar or marker, or None where there is nothing to place on a time axis."""
    placed = extent(row, today)
    if placed is None:
        return None
    label = row_label(row)
    if row["state"] == "breach":
        return Row("breach", row["title"], row["member_name"], tooltip(row, label), placed[0])
    return Row(row["state"], row["title"], row["member_name"], tooltip(row, label), placed[0], placed[1],
               due_number(row), original_due(row))


def row_label(row: ClockRow) -> str:
    """The rule's title, and the child's name for a clock that runs per child."""
    return f"{row['title']} \u2014 {row['member_name']}" if row["member_name"] else row["title"]


def shown(value: date | datetime) -> str:
    """dd/mm/yyyy, with the London time for an instant of an hours clock's due."""
    if isinstance(value, datetime):
        local = value.astimezone(LONDON) if value.tzinfo is not None else value
        return f"{local:%d/%m/%Y %H:%M}"
    return f"{value:%d/%m/%Y}"


def day_shown(value: datetime) -> str:
    return f"{(value.astimezone(LONDON) if value.tzinfo is not None else value):%d/%m/%Y}"


def amount(n: int, unit: str) -> str:
    words = unit.replace("_", " ")
    return f"{n} {words[:-1] if n == 1 and words.endswith('s') else words}"


def tooltip(row: ClockRow, label: str) -> str:
    """The row in full, for the tooltip: what an auditor checks against the table."""
    parts = [f"{label}: {LOOKS[row['state']].name.lower()}."]
    if row["state"] == "breach":
        if row["started_at"] is not None:
            parts.append(f"Entry of {day_shown(row['started_at'])}.")
    else:
        if row["started_at"] is not None:
            parts.append(f"Started {day_shown(row['started_at'])}.")
        if row["due"] is not None:
            parts.append(f"Due {shown(row['due'])}.")
        if row["extended_by"] and row["unit"]:
            count = len(row["extensions"])
            parts.append(f"Extended by {amount(row['extended_by'], row['unit'])}"
                         f" ({count} extension{'' if count == 1 else 's'}).")
        if row["stopped_at"] is not None:
            parts.append(f"Stopped {day_shown(row['stopped_at'])}.")
        elif row["state"] == "overdue" and not is_running(row):
            parts.append("Ended unmet after its due date.")
    if row["reason"]:
        reason = row["reason"].rstrip(".")
        parts.append(f"{reason[:1].upper()}{reason[1:]}.")
    source = row["source"]
    lines = ", ".join(f"L{n}" for n in source["lines"])
    parts.append(f"Rule {row['rule']} (seed {source['seed']}{' ' + lines if lines else ''}).")
    return " ".join(parts)


# -- text -----------------------------------------------------------------------------------

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Arial's advance widths (thousandths of an em) where they differ from the 556 that most
# lower-case letters and all digits take: enough to cut a label where it will fit.
_WIDTHS = {
    char: width
    for chars, width in (
        ("'", 191), ("ijl", 222), (" ,./:;!|fIt[]", 278), ("r-()", 333), ("cksvxyzJ", 500),
        ("FTZ", 611), ("ABEKPSVXY&", 667), ("CDHNRUw", 722), ("GOQ", 778), ("mM", 833),
        ("%", 889), ("W", 944), ("\u2014\u2026", 1000), ("@", 1015),
    )
    for char in chars
}


def text(value: str) -> str:
    """User text made safe as SVG character data or an attribute value: characters XML 1.0
    cannot hold are dropped, and ``& < > " '`` escaped."""
    return html.escape(_NOT_XML.sub("", value), quote=True)


@functools.lru_cache(maxsize=4096)
def _em_thousandths(char: str) -> int:
    """One character's width in thousandths of an em (wide East Asian characters an em)."""
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 1000
    return _WIDTHS.get(char, 556)


@functools.lru_cache(maxsize=4096)
def text_width(value: str, size: float) -> float:
    """The width of ``value`` in Arial at ``size`` px (wide East Asian characters an em);
    remembered, as a timeline's labels repeat row after row."""
    return sum(map(_em_thousandths, value)) * size / 1000


@functools.lru_cache(maxsize=4096)
def fit(value: str, width: float, size: float) -> str:
    """``value``, cut with an ellipsis to fit ``width`` (with room for a wider fallback font)."""
    room = width * 0.9
    if text_width(value, size) <= room:
        return value
    room = (room - text_width("\u2026", size)) * 1000 / size
    used, kept = 0, 0
    for char in value:
        used += _em_thousandths(char)
        if used > room:
            break
        kept += 1
    return value[:kept].rstrip() + "\u2026"


def fit_label(row: Row, width: float) -> str:
    """The row's label cut to ``width``, from the title first: a child's name stays whole
    (up to half the width), so the rows of one rule for each child can be told apart."""
    if row.child is None:
        return fit(row.title, width, LABEL_SIZE)
    name = fit(row.child, width / 2, LABEL_SIZE)
    joint = f" \u2014 {name}"
    room = width - text_width(joint, LABEL_SIZE) / 0.9
    return fit(row.title, room, LABEL_SIZE) + joint


# -- drawing --------------------------------------------------------------------------------


def element(tag: str, content: str | None = None, /, **attributes: str | float) -> str:
    """An SVG element; attribute names with ``_`` are written with ``-``; values are
    numbers or already-escaped text."""
    attrs = "".join(f' {name.rstrip("_").replace("_", "-")}="{num(value)}"' for name, value in attributes.items())
    return f"<{tag}{attrs}/>" if content is None else f"<{tag}{attrs}>{content}</{tag}>"


def num(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return f"{value:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class Frame:
    """Where things go: the label column, the status column and the chart's x scale."""

    width: int
    first: float
    last: float
    label_width: float

    @property
    def badge_x(self) -> float:
        return PAD + self.label_width + 6

    @property
    def left(self) -> float:
        return self.badge_x + BADGE + 12

    @property
    def right(self) -> float:
        return self.width - PAD - 4

    def x(self, day: float) -> float:
        return self.left + (day - self.first) / (self.last - self.first) * (self.right - self.left)


def frame_for(rows: Sequence[Row], today: float, width: int) -> Frame:
    """A scale from a little before the first start to a little after the last mark,
    today included, at least four weeks long."""
    points = [today] + [p for r in rows for p in (r.start, r.end, r.due, r.original_due) if p is not None]
    points += [r.history[0].start for r in rows if r.history]
    first, last = min(points), max(points)
    if last - first < 28:
        middle = (first + last) / 2
        first, last = middle - 14, middle + 14
    margin = (last - first) * 0.02
    return Frame(width, first - margin, last + margin, min(320.0, max(150.0, width * 0.3)))


def patterns(prefix: str) -> str:
    """The fills that are not a flat colour: stripes for overdue, bars for a pause,
    cross-hatching for an overrun past the due, light hatching for an extension."""
    red, grey = LOOKS["overdue"].colour, LOOKS["paused"].colour
    out = [
        _pattern(f"{prefix}-stripes", 6, red, element("line", x1=0, y1=0, x2=0, y2=6, stroke="#ffffff",
                                                       stroke_width=2.5), rotate=45),
        _pattern(f"{prefix}-bars", 5, grey, element("rect", x=3, y=0, width=2, height=5, fill="#ffffff")),
        _pattern(f"{prefix}-zone", 6, "#ffffff", element("line", x1=0, y1=0, x2=0, y2=6, stroke=RULE,
                                                          stroke_width=1.5), rotate=-45),
    ]
    for state, look in LOOKS.items():
        hatch = element("path", d="M0,0 L6,6 M6,0 L0,6", stroke=look.colour, stroke_width=1.5)
        out.append(_pattern(f"{prefix}-overrun-{state}", 6, "#ffffff", hatch))
        light = element("rect", x=0, y=0, width=6, height=6, fill=look.colour, fill_opacity=0.35)
        line = element("line", x1=0, y1=0, x2=0, y2=6, stroke=look.colour, stroke_width=2)
        out.append(_pattern(f"{prefix}-ext-{state}", 6, "#ffffff", light + line, rotate=-45))
    return element("defs", "".join(out))


def _pattern(name: str, size: int, ground: str, figure: str, rotate: int = 0) -> str:
    turn = {"patternTransform": f"rotate({rotate})"} if rotate else {}
    return element("pattern", element("rect", x=0, y=0, width=size, height=size, fill=ground) + figure,
                   id=name, width=size, height=size, patternUnits="userSpaceOnUse", **turn)


def fill_of(state: str, prefix: str) -> str:
    fill = LOOKS[state].fill
    if fill == "stripes":
        return f"url(#{prefix}-stripes)"
    if fill == "bars":
        return f"url(#{prefix}-bars)"
    if fill == "none":
        return "#ffffff"
    return LOOKS[state].colour


def bar_rect(state: str, prefix: str, x: float, y: float, width: float, height: float = BAR,
             css: str = "bar") -> str:
    """A bar in its state's fill and outline: a heavy black edge for overdue, a dashed
    one for a clock that ended before it fell due, a thin one of its colour otherwise."""
    look = LOOKS[state]
    if state == "overdue":
        edge: dict[str, str | float] = {"stroke": INK, "stroke_width": 2}
    elif look.fill == "none":
        edge = {"stroke": look.colour, "stroke_width": 1.5, "stroke_dasharray": "4 3"}
    else:
        edge = {"stroke": look.colour, "stroke_width": 1}
    return element("rect", class_=css, x=x, y=y, width=max(width, 2), height=height,
                   fill=fill_of(state, prefix), **edge)


def badge(state: str, x: float, y: float) -> str:
    """The state's letter in a box: the cue that needs no colour at all."""
    look = LOOKS[state]
    box = element("rect", x=x, y=y, width=BADGE, height=BADGE, rx=2, fill="#ffffff", stroke=look.colour,
                  stroke_width=1.5)
    letter = element("text", text(look.letter), x=x + BADGE / 2, y=y + BADGE - 4, text_anchor="middle",
                     font_size=11, font_weight="bold", fill=INK)
    return element("g", box + letter, class_="status", data_state=state)


def diamond(x: float, y: float, colour: str, size: float = 6, css: str = "breach") -> str:
    return element("path", class_=css, d=f"M{num(x)},{num(y - size)} L{num(x + size)},{num(y)} "
                                         f"L{num(x)},{num(y + size)} L{num(x - size)},{num(y)} Z",
                   fill=colour, stroke=INK, stroke_width=1)


def draw_row(row: Row, index: int, top: float, frame: Frame, prefix: str) -> str:
    """One row: its shading, label, status letter, and its bar (or breach marker), with
    the full text as the row's tooltip."""
    y = top + index * ROW
    middle = y + ROW / 2
    parts = [element("title", text(row.tooltip))]
    if index % 2 == 0:
        parts.append(element("rect", x=0, y=y, width=frame.width, height=ROW, fill=SHADE))
    label = fit_label(row, frame.label_width)
    parts.append(element("text", text(label), x=PAD, y=middle + 4, font_size=LABEL_SIZE, fill=INK))
    parts.append(badge(row.state, frame.badge_x, middle - BADGE / 2))
    if row.history:
        parts.append(history(row, middle, frame))
    if row.end is None:
        parts.append(diamond(frame.x(row.start), middle, LOOKS["breach"].colour))
    else:
        parts.extend(bar(row, middle - BAR / 2, frame, prefix))
    return element("g", "".join(parts), class_="row", data_state=row.state)


HISTORY = 4  # the height of the strip of a row's earlier clocks


def history(row: Row, middle: float, frame: Frame) -> str:
    """The row's earlier clocks as a thin strip along the middle of the row, one piece a
    span in its state's colour (breaches as small diamonds), with the count in words as
    its tooltip."""
    parts = [element("title", text(row.history_note))]
    for span in row.history:
        if span.state == "breach":
            parts.append(diamond(frame.x(span.start), middle, LOOKS["breach"].colour, size=3, css="earlier"))
        else:
            x = frame.x(span.start)
            parts.append(element("rect", class_="earlier", x=x, y=middle - HISTORY / 2,
                                 width=max(frame.x(span.end) - x, 1), height=HISTORY, fill=LOOKS[span.state].colour))
    return element("g", "".join(parts), class_="history", data_clocks=str(row.folded))


def bar(row: Row, y: float, frame: Frame, prefix: str) -> Iterator[str]:
    """The window from the start to the due as a thin line; the extension's part of it
    hatched grey; the bar to where the clock stopped, lighter and hatched beyond the
    original due, cross-hatched beyond the due; a black mark at the due, a dashed one at
    the original due."""
    assert row.end is not None and row.due is not None
    x, middle = frame.x, y + BAR / 2
    yield element("line", class_="window", x1=x(row.start), y1=middle, x2=x(row.due), y2=middle, stroke=RULE,
                  stroke_width=2)
    cut = row.due if row.original_due is None else min(row.original_due, row.due)
    if row.original_due is not None:
        yield element("rect", class_="extension-window", x=x(cut), y=y + 1, width=max(x(row.due) - x(cut), 1),
                      height=BAR - 2, fill=f"url(#{prefix}-zone)", stroke=RULE, stroke_dasharray="3 2")
    yield bar_rect(row.state, prefix, x(row.start), y, x(min(row.end, cut)) - x(row.start))
    if row.end > cut and row.original_due is not None:
        yield element("rect", class_="extension", x=x(cut), y=y, width=x(min(row.end, row.due)) - x(cut),
                      height=BAR, fill=f"url(#{prefix}-ext-{row.state})", stroke=LOOKS[row.state].colour,
                      stroke_width=1)
    if row.end > row.due:
        yield element("rect", class_="overrun", x=x(row.due), y=y, width=max(x(row.end) - x(row.due), 2),
                      height=BAR, fill=f"url(#{prefix}-overrun-{row.state})", stroke=LOOKS[row.state].colour,
                      stroke_width=1.5)
    if row.original_due is not None:
        yield element("line", class_="original-due", x1=x(row.original_due), y1=y - 3, x2=x(row.original_due),
                      y2=y + BAR + 3, stroke=INK, stroke_width=1.5, stroke_dasharray="2 2")
    yield element("line", class_="due", x1=x(row.due), y1=y - 3, x2=x(row.due), y2=y + BAR + 3, stroke=INK,
                  stroke_width=2)


# -- the axis -------------------------------------------------------------------------------


def ticks(frame: Frame) -> list[tuple[float, str]]:
    """Mondays (dd/mm/yyyy) for a short span, firsts of months (Mon yyyy) for a longer
    one: the closest spacing whose labels do not touch."""
    per_day = (frame.right - frame.left) / (frame.last - frame.first)
    first, last = date.fromordinal(int(frame.first) + 1), date.fromordinal(int(frame.last))
    week_label = text_width("00/00/0000", AXIS_SIZE) + TICK_GAP
    for weeks in (1, 2, 4):
        if weeks * 7 * per_day >= week_label:
            return [(float(d.toordinal()), f"{d:%d/%m/%Y}") for d in mondays(first, last, weeks)]
    month_label = text_width("May 0000", AXIS_SIZE) + TICK_GAP
    for months in (1, 2, 3, 6, 12, 24, 60):
        if months * 30 * per_day >= month_label:
            break
    return [(float(d.toordinal()), f"{MONTHS[d.month - 1]} {d.year}") for d in firsts(first, last, months)]


def mondays(first: date, last: date, step: int) -> Iterator[date]:
    day = first + timedelta(days=-first.weekday() % 7)
    while day <= last:
        yield day
        day += timedelta(weeks=step)


def firsts(first: date, last: date, step: int) -> Iterator[date]:
    day = date(first.year, first.month, 1)
    while day <= last:
        if day >= first and (day.year * 12 + day.month - 1) % step == 0:
            yield day
        day = add_months(day, 1)


def axis(frame: Frame, label_y: float, top: float, bottom: float) -> str:
    """Gridlines at the ticks over the rows, their dates above."""
    out = []
    for day, label in ticks(frame):
        x = frame.x(day)
        out.append(element("line", x1=x, y1=top, x2=x, y2=bottom, stroke=RULE, stroke_width=1))
        out.append(element("text", text(label), x=x, y=label_y, text_anchor="middle", font_size=AXIS_SIZE,
                           fill=INK))
    return element("g", "".join(out), class_="axis")


def axis_labels(frame: Frame, label_y: float) -> str:
    """The tick dates again, under the last row, for a long picture read from the bottom."""
    labels = [element("text", text(label), x=frame.x(day), y=label_y, text_anchor="middle",
                      font_size=AXIS_SIZE, fill=INK) for day, label in ticks(frame)]
    return element("g", "".join(labels), class_="axis")


def today_line(frame: Frame, today: float, label: str, label_y: float, top: float, bottom: float) -> str:
    """Today's line down the rows, its label above the axis's dates (kept inside the picture)."""
    x = frame.x(today)
    half = text_width(label, LABEL_SIZE) / 2 + 2
    centre = min(max(x, PAD + half), frame.width - PAD - half)
    return element(
        "g",
        element("line", class_="today", x1=x, y1=top, x2=x, y2=bottom, stroke=INK, stroke_width=2,
                stroke_dasharray="6 3")
        + element("text", text(label), x=centre, y=label_y, text_anchor="middle", font_size=LABEL_SIZE,
                  font_weight="bold", fill=INK),
        class_="today-marker")


# -- the legend -----------------------------------------------------------------------------


def legend_items(rows: Sequence[Row], prefix: str) -> list[tuple[float, str]]:
    """(width, drawing at x = 0) for each state present, then each mark used."""
    present = {r.state for r in rows}
    items = []
    for state, look in LOOKS.items():
        if state not in present:
            continue
        if state == "breach":
            sample = diamond(12, 8, look.colour, css="sample")
        else:
            sample = bar_rect(state, prefix, 0, 2, 24, css="sample")
        items.append(key(sample + badge(state, 30, 0), 50, look.name, state))
    marks = [("due", "Due date", element("line", x1=12, y1=-1, x2=12, y2=17, stroke=INK, stroke_width=2))]
    if any(r.original_due is not None for r in rows):
        marks.append(("extension", "Extension (dashed: original due)",
                      element("rect", x=4, y=2, width=20, height=BAR, fill=f"url(#{prefix}-zone)", stroke=RULE)
                      + element("line", x1=4, y1=-1, x2=4, y2=17, stroke=INK, stroke_width=1.5,
                                stroke_dasharray="2 2")))
    if any(r.end is not None and r.due is not None and r.end > r.due for r in rows):
        marks.append(("overrun", "Past the due date",
                      element("rect", x=0, y=2, width=24, height=BAR, fill=f"url(#{prefix}-overrun-paused)",
                              stroke=LOOKS["paused"].colour, stroke_width=1.5)))
    if any(r.history for r in rows):
        marks.append(("earlier", "Earlier clocks of the rule (thin)",
                      element("rect", x=0, y=8, width=24, height=HISTORY, fill=LOOKS["met"].colour)))
    items.extend(key(sample, 30, name, None, mark) for mark, name, sample in marks)
    return items


def key(sample: str, indent: float, name: str, state: str | None, mark: str | None = None) -> tuple[float, str]:
    label = element("text", text(name), x=indent, y=12, font_size=LABEL_SIZE, fill=INK)
    tag = {"data_state": state} if state else {"data_mark": mark or ""}
    return indent + text_width(name, LABEL_SIZE) + 20, element("g", sample + label, class_="legend-item", **tag)


def legend(items: Sequence[tuple[float, str]], width: int, top: float) -> tuple[str, int]:
    """The items in lines across the picture; the drawing and how many lines it took."""
    x, line, out = float(PAD), 0, []
    for size, drawing in items:
        if x > PAD and x + size > width - PAD:
            x, line = float(PAD), line + 1
        out.append(element("g", drawing, transform=f"translate({num(x)},{num(top + line * 22)})"))
        x += size
    return element("g", "".join(out), class_="legend"), line + 1


# -- words ----------------------------------------------------------------------------------


def summary(rows: Sequence[Row], left_out: Counter[str], today_label: str) -> str:
    """The picture in words, for the ``<desc>``: what it counts, what it leaves out."""
    counts = Counter(r.state for r in rows)
    clocks = sum(n for state, n in counts.items() if state != "breach")
    listed = [f"{counts[s]} {LOOKS[s].counted}" for s in LOOKS if s != "breach" and counts[s]]
    if not rows:
        words = "No deadlines have started."
    else:
        words = f"{clocks} deadline{'' if clocks == 1 else 's'}" + (f": {', '.join(listed)}." if listed else ".")
    if counts["breach"]:
        words += f" {counts['breach']} ordering-rule breach{'' if counts['breach'] == 1 else 'es'}."
    gone = [f"{left_out['rule']} rule{'' if left_out['rule'] == 1 else 's'} not started"] if left_out["rule"] else []
    if left_out["breach"]:
        gone.append(f"{left_out['breach']} ordering-rule breach{'' if left_out['breach'] == 1 else 'es'} "
                    "without a date")
    if gone:
        words += f" Not drawn: {' and '.join(gone)}."
    folded = sum(r.folded for r in rows)
    if folded:
        words += (f" {folded} earlier clock{'' if folded == 1 else 's'} of recurring rules drawn thin along "
                  "their rule's row.")
    return f"{words} {today_label}."


def left_out(clocks: Sequence[ClockRow]) -> Counter[str]:
    """What has no place on the axis: rules not started, breaches without a date."""
    out: Counter[str] = Counter()
    for row in clocks:
        if row["started_at"] is None:
            out["breach" if row["state"] == "breach" else "rule"] += 1
    return out


def id_prefix(rows: Sequence[Row], today: date, label: str, width: int) -> str:
    """Ids for this picture's title, description and patterns, the same for the same
    picture and unlikely to meet another picture's ids on one page."""
    digest = hashlib.sha256(repr((list(rows), today, label, width)).encode()).hexdigest()
    return f"timeline-{digest[:10]}"


def svg(prefix: str, width: int, height: int, title: str, desc: str, body: str) -> str:
    head = element("title", text(title), id=f"{prefix}-title") + element("desc", text(desc), id=f"{prefix}-desc")
    return element("svg", head + body, xmlns="http://www.w3.org/2000/svg", class_="deadline-timeline",
                   role="img", aria_labelledby=f"{prefix}-title {prefix}-desc", width=width, height=height,
                   viewBox=f"0 0 {width} {height}", font_family=FONT)


def nothing_started(prefix: str, width: int, desc: str) -> str:
    words = element("text", "No deadlines have started", x=PAD, y=28, font_size=14, fill=INK)
    return svg(prefix, width, 44, "Deadlines timeline", desc, words)


def timeline_svg(clocks: Sequence[ClockRow], *, today: date, as_of_label: str | None = None,
                 width: int = 960, folded: bool = False, lines: Sequence[Line] | None = None) -> str:
    """The family's deadlines as one standalone ``<svg>`` element, safe to embed inline.

    One row per clock that has started, in the order given (the table's), each with its
    label (the rule's title, and the child's name for a per-child clock; cut with an
    ellipsis, in full in the row's ``<title>`` tooltip with its dates and seed lines),
    its state's letter, and a bar from its start to its due, or to where it stopped: a
    clock stopped (or still running) past its due has the overrun cross-hatched beyond
    the due mark. An extension: the bar beyond the original due (dashed mark) lighter and
    hatched. A clock that ended before it fell due is an outline over its window: the row
    has no end date, so where it ended cannot be drawn, nor when a clock that ended unmet
    did (its bar stops at its due). An ordering-rule breach (no duration) is a diamond at
    the entry's date. A date axis (Mondays or months), a "Today dd/mm/yyyy" line (or
    ``as_of_label``) and a legend of the states present.

    ``folded``: a recurring rule's earlier clocks that have stopped are folded into the
    row of its latest clock for the child (``console.folding``), drawn as a thin strip
    along that row, a piece for each run of one state, with their count in its tooltip
    and the ``<desc>``; the family page folds, ``?deadlines=all`` does not. ``lines``:
    the clocks already folded (or not) by the caller, who shows the same lines in a table.

    Left out, and said so in the ``<desc>``: rules not started (no date to place) and
    breaches without a date. Pauses: a paused clock is drawn as paused up to its due
    (pushed back by the pause so far), but when a pause began or any past pause is not in
    a ``ClockRow``, so no pause interval is drawn.

    The height follows the number of rows; ``width``/``height`` are the natural size and
    the ``viewBox`` lets the page scale it down (``svg.deadline-timeline {max-width: 100%;
    height: auto}``). With nothing started: a small picture saying so.
    """
    if width < 320:
        raise ValueError("a timeline needs at least 320 px")
    today_at = day_number(today) + 0.5  # the middle of the day: after what happened this morning
    today_label = as_of_label or f"Today {today:%d/%m/%Y}"
    if lines is None:
        lines = fold(clocks) if folded else [Line(c) for c in clocks]
    rows = [r for r in (plan_line(line, today_at) for line in lines) if r is not None]
    prefix = id_prefix(rows, today, today_label, width)
    words = summary(rows, left_out(clocks), today_label)
    if not rows:
        return nothing_started(prefix, width, words)
    return picture(rows, prefix, width, today_at, today_label, words)


def picture(rows: Sequence[Row], prefix: str, width: int, today: float, today_label: str, words: str) -> str:
    """The legend, today's label, the axis, the rows, the axis again under a long list."""
    frame = frame_for(rows, today, width)
    drawn_legend, lines = legend(legend_items(rows, prefix), width, PAD)
    today_y = PAD + lines * 22 + 18
    axis_y = today_y + 18
    top = axis_y + 8
    bottom = top + len(rows) * ROW
    height = int(bottom + (24 if len(rows) > 12 else 0) + PAD)
    body = [patterns(prefix), drawn_legend, axis(frame, axis_y, top - 4, bottom)]
    body += [draw_row(r, i, top, frame, prefix) for i, r in enumerate(rows)]
    if len(rows) > 12:
        body.append(axis_labels(frame, bottom + 16))
    body.append(today_line(frame, today, today_label, today_y, top - 4, bottom))
    return svg(prefix, width, height, title_of(rows), words, "".join(body))


def title_of(rows: Sequence[Row]) -> str:
    """The picture's name: the days from its first start to its last mark."""
    first = min(r.start for r in rows)
    last = max(p for r in rows for p in (r.start, r.end, r.due) if p is not None)
    return (f"Deadlines timeline, {date.fromordinal(int(first)):%d/%m/%Y} to "
            f"{date.fromordinal(int(last - 1e-6)):%d/%m/%Y}")
