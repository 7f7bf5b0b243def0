"""The deadlines timeline (``console.timeline``): the picture an auditor reads beside the
deadlines table and a case review prints.

Plain Python over ``ClockRow`` dicts built by hand (the engine's row), read back with
``xml.etree.ElementTree`` for what a reader would notice: a bar for each clock that has
started, its colour and the cue that needs no colour, the today line, an extension, the
legend and the words of the description. One test draws the demo's families.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, datetime, time, timezone
from typing import Any

import pytest

from console.timeline import LOOKS, timeline_svg
from ledger.calendar import LONDON, end_of_day
from ledger.deadlines import STATES, ClockRow, State

# Storage-neutral: the picture is Python over rows; the demo test reads one SQLite database.
pytestmark = pytest.mark.one_database

NS = {"s": "http://www.w3.org/2000/svg"}
TODAY = date(2026, 11, 24)  # a Tuesday
SEED = "000_5f8893c51560d94f.txt"


def at(day: date, hour: int = 10) -> datetime:
    """An instant on a London day, as the engine gives it (UTC)."""
    return datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(timezone.utc)


def clock(rule: str, state: State, start: date | None = None, due: date | None = None, stop: date | None = None, *,
          title: str | None = None, child: str | None = None, extended_by: int = 0, unit: str = "working_days",
          duration: int = 10, ended: bool = False, reason: str | None = None) -> ClockRow:
    """A deadline row as ``ledger.deadlines`` makes it."""
    return {
        "rule": rule, "title": title or rule.replace("-", " ").capitalize(), "kind": "deadline", "category": None,
        "state": state, "reason": reason, "due": due,
        "due_at": end_of_day(due).astimezone(timezone.utc) if due else None,
        "member": uuid.uuid4() if child else None, "member_name": child, "episode_id": None, "pathway": None,
        "started_by": uuid.uuid4() if start else None, "started_at": at(start) if start else None,
        "stopped_by": uuid.uuid4() if stop else None, "stopped_at": at(stop) if stop else None,
        "ended_by": uuid.uuid4() if ended else None, "extended_by": extended_by,
        "extensions": [uuid.uuid4()] if extended_by else [], "duration": None if state == "breach" else duration,
        "unit": None if state == "breach" else unit, "source": {"seed": SEED, "lines": [617]},
    }


D = date
FAMILY: list[ClockRow] = [
    clock("consent", "met", D(2026, 11, 2), D(2026, 11, 16), D(2026, 11, 10)),
    clock("assessment", "met_late", D(2026, 10, 26), D(2026, 11, 9), D(2026, 11, 13)),
    clock("child-seen-alone", "overdue", D(2026, 10, 20), D(2026, 11, 3), child="Daisy Fletcher"),
    clock("plan-agreed", "open", D(2026, 11, 16), D(2026, 11, 30)),
    clock("six-week-review", "extended", D(2026, 11, 2), D(2026, 12, 7), extended_by=5),
    clock("home-visit", "paused", D(2026, 10, 12), D(2026, 12, 14), unit="weeks", duration=4),
    clock("closure-summary", "not_applicable", D(2026, 10, 5), D(2026, 11, 30), ended=True,
          reason="episode closed"),
    clock("risk-assessment-before-home-visit", "breach", D(2026, 11, 18)),
    clock("step-up-initiated", "not_applicable"),
    clock("fh-consent", "not_applicable"),
]
"""A family with one clock in each state, a breach, and two rules not started."""


def draw(clocks: list[ClockRow], **kw: Any) -> ET.Element:
    """The picture, parsed: it must be well-formed XML to be read at all."""
    return ET.fromstring(timeline_svg(clocks, today=kw.pop("today", TODAY), **kw))


def rows(svg: ET.Element) -> list[ET.Element]:
    return svg.findall(".//s:g[@class='row']", NS)


def find(svg: ET.Element, css: str) -> list[ET.Element]:
    return svg.findall(f".//*[@class='{css}']", NS)


def number(element: ET.Element, name: str) -> float:
    return float(element.get(name, "nan"))


def x_of(svg: ET.Element, day: date, hours: float = 0) -> float:
    """Where the axis puts a moment (``hours`` into a London day), read from two of its
    date labels as a reader would: each labels the start of its day."""
    labels = svg.findall(".//s:g[@class='axis']/s:text", NS)
    (d0, x0), (d1, x1) = [(datetime.strptime(t.text or "", "%d/%m/%Y").date(), number(t, "x"))
                          for t in (labels[0], labels[1])]
    per_day = (x1 - x0) / (d1 - d0).days
    return x0 + ((day - d0).days + hours / 24) * per_day


def pattern_ground(svg: ET.Element, fill: str) -> str:
    """The colour under a ``url(#id)`` fill's pattern."""
    name = fill.removeprefix("url(#").removesuffix(")")
    pattern = svg.find(f".//s:pattern[@id='{name}']", NS)
    assert pattern is not None, fill
    ground = pattern.find("s:rect", NS)
    assert ground is not None
    return ground.get("fill", "")


def test_one_bar_for_each_clock_that_has_started_and_a_diamond_for_the_breach():
    svg = draw(FAMILY)
    started = [c for c in FAMILY if c["started_at"] is not None and c["state"] != "breach"]
    assert len(find(svg, "bar")) == len(started) == 7
    assert len(find(svg, "breach")) == 1
    # The rules not started are not rows at all: nothing to place on a time axis.
    assert [r.get("data-state") for r in rows(svg)] == [c["state"] for c in FAMILY[:8]]
    titles = [r.findtext("s:title", namespaces=NS) or "" for r in rows(svg)]
    assert not any("Step up" in t or "Fh consent" in t for t in titles)


def test_an_overdue_bar_is_red_striped_with_a_heavy_outline_and_an_exclamation_mark():
    svg = draw(FAMILY)
    (row,) = [r for r in rows(svg) if r.get("data-state") == "overdue"]
    bar = row.find("s:rect[@class='bar']", NS)
    assert bar is not None
    # Colour: the overdue red (GOV.UK red); and a cue with none: stripes, a black edge, "!".
    assert pattern_ground(svg, bar.get("fill", "")) == LOOKS["overdue"].colour == "#d4351c"
    assert bar.get("stroke") == "#0b0c0c" and bar.get("stroke-width") == "2"
    assert row.findtext("s:g[@class='status']/s:text", namespaces=NS) == "!"
    # Still running past its due: the overrun from the due mark to today, hatched.
    overrun = row.find("s:rect[@class='overrun']", NS)
    due = row.find("s:line[@class='due']", NS)
    today = find(svg, "today")[0]
    assert overrun is not None and due is not None
    assert number(overrun, "x") == pytest.approx(number(due, "x1"), abs=0.1)
    assert number(overrun, "x") + number(overrun, "width") == pytest.approx(number(today, "x1"), abs=0.2)


def test_every_state_has_a_colour_of_3_to_1_on_white_and_a_letter_of_its_own():
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    assert set(LOOKS) == set(STATES)
    for state, look in LOOKS.items():
        assert 1.05 / (luminance(look.colour) + 0.05) >= 3, state
    assert len({look.letter for look in LOOKS.values()}) == len(LOOKS)


def test_the_today_line_is_drawn_at_today_on_the_axis_and_labelled():
    svg = draw(FAMILY)
    (line,) = find(svg, "today")
    # Tuesday 24 November, the middle of the day.
    assert number(line, "x1") == pytest.approx(x_of(svg, TODAY, 12), abs=0.2) == number(line, "x2")
    labels = [t.text for t in svg.findall(".//s:g[@class='today-marker']/s:text", NS)]
    assert labels == ["Today 24/11/2026"]


def test_a_past_view_is_labelled_as_the_caller_says():
    svg = draw(FAMILY, as_of_label="As of 03/12/2026", today=D(2026, 12, 3))
    labels = [t.text for t in svg.findall(".//s:g[@class='today-marker']/s:text", NS)]
    assert labels == ["As of 03/12/2026"]
    assert (svg.findtext("s:desc", namespaces=NS) or "").endswith("As of 03/12/2026.")


def test_an_extension_is_drawn_beyond_the_original_due_and_the_original_due_marked():
    svg = draw(FAMILY)
    (row,) = [r for r in rows(svg) if r.get("data-state") == "extended"]
    original = row.find("s:line[@class='original-due']", NS)
    due = row.find("s:line[@class='due']", NS)
    extension = row.find("s:rect[@class='extension']", NS)
    bar = row.find("s:rect[@class='bar']", NS)
    assert original is not None and due is not None and extension is not None and bar is not None
    # Due Monday 7 December after 5 more working days: it was due by the end of Monday 30 November.
    assert number(due, "x1") == pytest.approx(x_of(svg, D(2026, 12, 8)), abs=0.2)
    assert number(original, "x1") == pytest.approx(x_of(svg, D(2026, 12, 1)), abs=0.2)
    # The bar runs solid to the original due; the extended part is lighter, up to the due.
    assert number(bar, "x") + number(bar, "width") == pytest.approx(number(original, "x1"), abs=0.1)
    assert number(extension, "x") == pytest.approx(number(original, "x1"), abs=0.1)
    assert number(extension, "x") + number(extension, "width") == pytest.approx(number(due, "x1"), abs=0.1)
    assert extension.get("fill") != bar.get("fill")
    assert "Extended by 5 working days (1 extension)" in (row.findtext("s:title", namespaces=NS) or "")


def test_a_clock_met_late_shows_its_overrun_past_the_due_up_to_when_it_stopped():
    svg = draw(FAMILY)
    (row,) = [r for r in rows(svg) if r.get("data-state") == "met_late"]
    overrun, due = row.find("s:rect[@class='overrun']", NS), row.find("s:line[@class='due']", NS)
    assert overrun is not None and due is not None
    # Due by the end of Monday 9 November, stopped on Friday 13 November at 10:00.
    assert number(overrun, "x") == pytest.approx(x_of(svg, D(2026, 11, 10)), abs=0.2)
    stopped = x_of(svg, D(2026, 11, 13), 10)
    assert number(overrun, "x") + number(overrun, "width") == pytest.approx(stopped, abs=0.2)
    # A clock met in time has no overrun.
    (met,) = [r for r in rows(svg) if r.get("data-state") == "met"]
    assert met.find("s:rect[@class='overrun']", NS) is None


def test_user_text_is_escaped_and_the_picture_still_parses():
    name = "Daisy <script>alert('x')</script> & \"Fletcher\"\x00"
    clocks = [clock("child-seen", "open", D(2026, 11, 16), D(2026, 11, 30), child=name,
                    title="Seen & heard </text><script>bad()</script>")]
    drawn = timeline_svg(clocks, today=TODAY)
    assert "<script" not in drawn and "&lt;script&gt;" in drawn and "&amp;" in drawn
    svg = ET.fromstring(drawn)
    assert not svg.findall(".//s:script", NS) and not svg.findall(".//s:style", NS)
    assert all(e.get("style") is None for e in svg.iter())
    (row,) = rows(svg)
    tooltip = row.findtext("s:title", namespaces=NS) or ""
    assert tooltip.startswith("Seen & heard </text><script>bad()</script> \u2014 Daisy <script>alert('x')</script>")
    # The label, cut to fit, is the same text: read back exactly as typed, never as markup.
    assert row.findtext("s:text", namespaces=NS) == "Seen & heard </te\u2026 \u2014 Daisy <script>alert('x')\u2026"


def test_a_long_label_is_cut_with_an_ellipsis_keeping_the_childs_name():
    title = "Every child's voice and lived experience captured in the assessment within six weeks"
    clocks = [clock("voice", "met", D(2026, 11, 2), D(2026, 11, 16), D(2026, 11, 10), title=title, child=name)
              for name in ("Daisy Fletcher", "Ella Fletcher")]
    labels = [r.findtext("s:text", namespaces=NS) or "" for r in rows(draw(clocks))]
    assert [label.split(" \u2014 ")[1] for label in labels] == ["Daisy Fletcher", "Ella Fletcher"]
    assert all(label.split(" \u2014 ")[0].endswith("\u2026") and len(label) < len(title) for label in labels)
    tooltips = [r.findtext("s:title", namespaces=NS) or "" for r in rows(draw(clocks))]
    assert tooltips[0].startswith(f"{title} \u2014 Daisy Fletcher: met. Started 02/11/2026. Due 16/11/2026.")


def test_the_legend_lists_exactly_the_states_present():
    legend = [g.get("data-state") for g in draw(FAMILY).findall(".//s:g[@class='legend-item']", NS)
              if g.get("data-state")]
    assert legend == ["overdue", "met_late", "paused", "open", "extended", "met", "not_applicable", "breach"]
    two = [FAMILY[0], FAMILY[2]]
    legend = [g.get("data-state") for g in draw(two).findall(".//s:g[@class='legend-item']", NS)
              if g.get("data-state")]
    assert legend == ["overdue", "met"]
    # The marks too: the due mark always; an overrun here; no extension among these two.
    marks = [g.get("data-mark") for g in draw(two).findall(".//s:g[@class='legend-item']", NS)
             if g.get("data-mark")]
    assert marks == ["due", "overrun"]


def test_it_is_an_image_named_and_described_in_words_with_the_counts():
    drawn = timeline_svg(FAMILY, today=TODAY)
    svg = ET.fromstring(drawn)
    assert svg.get("role") == "img"
    title_id, desc_id = (svg.get("aria-labelledby") or "").split()
    title = svg.find(f"s:title[@id='{title_id}']", NS)
    desc = svg.find(f"s:desc[@id='{desc_id}']", NS)
    assert title is not None and title.text == "Deadlines timeline, 05/10/2026 to 14/12/2026"
    assert desc is not None and desc.text == (
        "7 deadlines: 1 overdue, 1 met late, 1 paused, 1 running, 1 running after an extension, 1 met, "
        "1 ended before due. 1 ordering-rule breach. Not drawn: 2 rules not started. Today 24/11/2026.")
    # Standalone: its own size, a viewBox to scale down, a generic font, nothing fetched.
    width, height = int(svg.get("width", "0")), int(svg.get("height", "0"))
    assert svg.get("viewBox") == f"0 0 {width} {height}" and width == 960
    assert svg.get("font-family") == "Arial, sans-serif"
    assert "href" not in drawn and "http" not in drawn.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_height_follows_the_number_of_rows():
    def height(n: int) -> int:
        return int(draw([FAMILY[0]] * n).get("height", "0"))

    # A row is 22 px; past twelve rows the axis's dates are repeated under the last.
    assert height(2) - height(1) == height(3) - height(2) == 22
    assert height(13) - height(12) == 22 + 24


def test_the_axis_is_weeks_for_a_short_span_and_months_for_a_long_one():
    short = [t.text or "" for t in draw(FAMILY).findall(".//s:g[@class='axis']/s:text", NS)]
    assert short and all(datetime.strptime(t, "%d/%m/%Y").weekday() == 0 for t in short)
    year = [clock("annual-review", "open", D(2026, 1, 13), D(2027, 1, 13), unit="months", duration=12)]
    long = [t.text or "" for t in draw(year).findall(".//s:g[@class='axis']/s:text", NS)]
    assert long and all(datetime.strptime(t, "%b %Y").day == 1 for t in long)
    assert "Jan 2027" in long


def test_nothing_started_says_so():
    drawn = timeline_svg([FAMILY[-1], FAMILY[-2]], today=TODAY)
    svg = ET.fromstring(drawn)
    assert [t.text for t in svg.findall("s:text", NS)] == ["No deadlines have started"]
    assert svg.get("role") == "img"
    assert svg.findtext("s:desc", namespaces=NS) == (
        "No deadlines have started. Not drawn: 2 rules not started. Today 24/11/2026.")
    assert ET.fromstring(timeline_svg([], today=TODAY)).findtext("s:desc", namespaces=NS) == (
        "No deadlines have started. Today 24/11/2026.")


@pytest.mark.slow
def test_the_demo_families_are_drawn_one_bar_per_started_clock(settings):
    from demo import generate
    from queries.deadlines import family_deadlines
    from tests.conftest import open_ledger

    until = datetime(2026, 11, 24, tzinfo=timezone.utc)
    generate(settings, families=5, seed=7, until=until)  # one family of each pack
    ledger = open_ledger(settings)
    try:
        for family_id in ledger.family_ids():
            found = family_deadlines(ledger, family_id, as_of=until)["deadlines"]
            svg = draw(found)
            started = Counter(c["state"] for c in found if c["started_at"] is not None)
            assert len(find(svg, "bar")) == sum(n for s, n in started.items() if s != "breach")
            assert len(find(svg, "breach")) == started["breach"]
            assert Counter(r.get("data-state") for r in rows(svg)) == started
            desc = svg.findtext("s:desc", namespaces=NS) or ""
            for state, n in started.items():
                if state != "breach":
                    assert f"{n} {LOOKS[state].counted}" in desc, (state, desc)
    finally:
        ledger.close()
