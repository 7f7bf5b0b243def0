"""The review console as a person uses it, in Chromium: sign in, find a family by part of
a name, open it, switch the chronology's layout, look at it as it stood before a
correction, open what a decision-maker saw, download a file; another team's practitioner
finds nothing. Every page is checked with axe-core and shot at 1280 and 390 px; the
``page`` fixture fails a test if a request leaves 127.0.0.1 or the page logs an error."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from queries import chronology, families
from tests.browser.support import SCREENSHOTS, Served

UK = ZoneInfo("Europe/London")


def sign_in(page: Page, role: str, team: str | None = None, user_id: str = "demo-reader") -> None:
    page.goto("/console/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Demo only").first).to_be_visible()
    page.get_by_label("User id").fill(user_id)
    page.get_by_label("Role").select_option(role)
    if team:
        page.get_by_label("Team").select_option(team)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {user_id}")).to_be_visible()


def fits_a_phone(page: Page) -> None:
    """At 390 px wide the page needs no sideways scrolling: wide tables scroll inside
    their own box, long words wrap."""
    before = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{page.url} is {wide} px wide at 390 px"
    finally:
        if before is not None:
            page.set_viewport_size(before)


def corrected_family(served: Served) -> tuple[UUID, dict[str, Any], str, str]:
    """A demo family with a correction: its id, the correction's event, and the corrected
    entry's summary as it stood before the correction and as it stands."""
    ledger = served.ledger
    for family_id in ledger.family_ids():
        events = families.events(ledger, family_id)["events"]
        for event in events:
            if event["type"] != "EntryCorrected":
                continue
            before = event["recorded_at"] - timedelta(seconds=1)
            then = {e["event_id"]: e for e in chronology.chronology(
                ledger, _projector(served), family_id, as_at=before)["entries"]}
            now = {e["event_id"]: e for e in chronology.chronology(
                ledger, _projector(served), family_id)["entries"]}
            target = str(event["data"]["corrects"])
            old, new = then.get(UUID(target)) or then.get(target), now.get(UUID(target)) or now.get(target)
            if old and new and old["summary"] != new["summary"]:
                return family_id, event, old["summary"], new["summary"]
    pytest.fail("no demo family has a correction that changes an entry's wording")


def _projector(served: Served) -> Any:
    from projections.projector import Projector

    projector = Projector(served.ledger)
    projector.catch_up()
    return projector


def test_an_auditor_finds_a_family_reads_it_as_it_stood_and_sees_what_a_decision_maker_saw(
        page: Page, served: Served, shot: Any, axe: Any) -> None:
    family_id, correction, original, corrected = corrected_family(served)
    state = families.family(served.ledger, family_id)
    someone = state["members"][0]
    sign_in(page, "auditor", user_id="demo-auditor")
    axe()
    shot("console-start")
    fits_a_phone(page)

    # Find the family by the beginnings of a member's names.
    page.get_by_role("link", name="Find a family").first.click()
    expect(page.get_by_role("heading", name="Find a family")).to_be_visible()
    axe()
    page.get_by_label("Member's name").fill(f"{someone['given_name'][:3].lower()} {someone['family_name'][:3].upper()}")
    page.get_by_role("button", name="Search").click()
    result = page.locator(f'a[href="/console/families/{family_id}"]')
    expect(result).to_be_visible()
    axe()
    shot("console-search")
    fits_a_phone(page)
    result.click()

    # The family page: members, chronology (with the correction marked), deadlines.
    expect(page.get_by_role("heading", level=1)).to_contain_text("family")
    expect(page.get_by_role("cell", name=f"{someone['given_name']} {someone['family_name']}").first).to_be_visible()
    expect(page.locator(".correction").first).to_be_visible()
    expect(page.get_by_text(corrected).first).to_be_visible()
    expect(page.locator("figure.timeline svg[role=img]")).to_be_visible()
    axe()
    shot("console-family")
    fits_a_phone(page)

    # Switch to the court layout and back.
    page.get_by_role("link", name="Court (PD12A)", exact=True).click()
    expect(page.get_by_role("columnheader", name="Event detail")).to_be_visible()
    expect(page.get_by_role("link", name="Court (PD12A)", exact=True)).to_have_attribute("aria-current", "page")
    axe()
    shot("console-family-court")
    fits_a_phone(page)
    page.get_by_role("link", name="Whole record").click()

    # As it stood just before the correction was recorded: the original wording, no correction.
    before = (correction["recorded_at"] - timedelta(minutes=1)).astimezone(UK)
    page.get_by_label("What the ledger knew at").fill(before.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Show").first.click()
    expect(page.get_by_role("region", name="Past view")).to_contain_text("A past view")
    expect(page.get_by_text(original).first).to_be_visible()
    expect(page.locator(".correction")).to_have_count(0)
    axe()
    shot("console-family-as-it-stood")
    fits_a_phone(page)

    # What the decision-maker saw, from the first decision in the chronology.
    page.goto(f"/console/families/{family_id}")
    decision = page.get_by_role("link", name="What the decision-maker saw").first
    decision.click()
    expect(page.get_by_text("What the decision-maker saw").first).to_be_visible()
    expect(page.get_by_role("region", name="Past view")).to_be_visible()
    expect(page.get_by_role("heading", name="Overdue when it was decided")).to_be_visible()
    axe()
    shot("console-decision")
    fits_a_phone(page)

    # Download the court chronology as CSV.
    page.goto(f"/console/families/{family_id}")
    with page.expect_download() as downloading:
        page.locator('a[href*="profile=court&format=csv"]').click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv")
    text = download.path().read_text(encoding="utf-8-sig")
    assert "serial number" in text.lower()

    # The access log shows this auditor's reads.
    page.get_by_role("link", name="Access log").click()
    expect(page.get_by_role("cell", name="demo-auditor").first).to_be_visible()
    expect(page.get_by_text("export").first).to_be_visible()
    axe()
    shot("console-access-log")
    fits_a_phone(page)


def test_a_practitioner_of_another_team_finds_nothing_of_that_family(page: Page, served: Served,
                                                                     page_watch: Any) -> None:
    family_id = served.ledger.family_ids()[0]
    state = families.family(served.ledger, family_id)
    other = next(t for t in served.ledger.teams.all() if t["team_id"] != state["team"])
    sign_in(page, "practitioner", other["team_id"], user_id="other-worker")
    page.goto("/console/families")
    page.get_by_label("Member's name").fill(state["members"][0]["family_name"])
    page.get_by_role("button", name="Search").click()
    expect(page.locator(f'a[href="/console/families/{family_id}"]')).to_have_count(0)
    answer = page.goto(f"/console/families/{family_id}")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    page_watch.expect_errors("403")  # Chromium logs the refused page as a failed load


def test_a_manager_sees_the_teams_caseloads_and_the_policy_browser_cites_the_seeds(
        page: Page, served: Served, shot: Any, axe: Any) -> None:
    team = served.teams[0]
    sign_in(page, "manager", team, user_id="demo-manager")
    page.get_by_role("link", name="Team").first.click()
    expect(page.get_by_role("heading", name="Caseloads")).to_be_visible()
    axe()
    shot("console-team")
    fits_a_phone(page)
    page.get_by_role("link", name="Due in the next 7 days").click()
    expect(page.get_by_role("link", name="Due in the next 7 days")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="Policy packs").first.click()
    axe()
    page.locator("table a").first.click()
    expect(page.get_by_text(".txt").first).to_be_visible()
    axe()
    shot("console-policy")
    fits_a_phone(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/console/team")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_the_keyboard_reaches_the_main_content_first_and_focus_is_visible(page: Page, served: Served) -> None:
    sign_in(page, "auditor")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    # The focus colour, as the page's style computes it (asked until it does: read once, at
    # once, it was once the unstyled transparent on a loaded machine).
    expect(skip).to_have_css("background-color", "rgb(255, 221, 0)")


def test_the_family_page_prints_as_a_record_without_the_screen_furniture(page: Page, served: Served) -> None:
    """Printed (or saved as PDF), the family page is its record: no navigation, forms or
    downloads; the banner, summary, chronology and timeline stay; table headers repeat."""
    family_id = served.ledger.family_ids()[0]
    sign_in(page, "auditor")
    page.goto(f"/console/families/{family_id}")
    page.emulate_media(media="print")
    for hidden in (".header", "form.as-at", ".tabs", ".page-links", "#downloads"):
        expect(page.locator(hidden).first).to_be_hidden()
    expect(page.locator("table.chronology")).to_be_visible()
    expect(page.locator("figure.timeline svg")).to_be_visible()
    assert page.locator("table.chronology thead").evaluate("e => getComputedStyle(e).display") == "table-header-group"
    out = SCREENSHOTS.parent / "print"
    out.mkdir(parents=True, exist_ok=True)
    pdf = out / "console-family.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=False)
    assert pdf.read_bytes()[:4] == b"%PDF"
    if shutil.which("pdftoppm"):  # the first page as a person would see it
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(out / "console-family")],
                       check=True)
        assert list(out.glob("console-family*.png"))


def test_the_chronology_document_reads_in_the_browser_as_the_pdf_prints_it(
        page: Page, served: Served, shot: Any, axe: Any) -> None:
    """From the family page, the court document opens in the browser from the PDF's own
    template: its header names the family and the council, the table has its four PD12A
    columns, the links lead to the files; it passes axe and fits a phone."""
    family_id = served.ledger.family_ids()[0]
    sign_in(page, "auditor", user_id="demo-auditor")
    page.goto(f"/console/families/{family_id}/document?profile=court&case_number=ZW26C00123")
    expect(page.get_by_text("ZW26C00123").first).to_be_visible()
    expect(page.get_by_text("Prepared by").first).to_be_visible()
    headers = page.locator("table thead th").all_inner_texts()
    assert len(headers) == 4 and "date" in headers[1].lower(), headers
    assert page.locator("table tbody tr").count() > 0
    expect(page.get_by_role("link", name="Download PDF")).to_be_visible()
    axe()
    shot("console-document-court")
    fits_a_phone(page)
    page.goto(f"/console/families/{family_id}/document?profile=review")
    assert page.locator("table tbody tr").count() > 0
    axe()
    shot("console-document-review")


def test_a_recurring_rules_earlier_clocks_read_as_one_line_and_one_strip(
        page: Page, served: Served, shot: Any, axe: Any) -> None:
    """A demo family whose visits restarted a clock: the table keeps a line per rule and
    child saying how many earlier clocks it folds, the timeline draws them as a thin strip
    on that row with the count in its tooltip, and every clock is one link away."""
    from console.folding import fold

    ledger = served.ledger
    for family_id in ledger.family_ids():
        clocks = ledger.deadlines(family_id)["deadlines"]
        lines = fold(clocks)
        if len(lines) < len(clocks):
            break
    else:
        pytest.fail("no demo family has a recurring rule's earlier clocks to fold")
    folded = next(line for line in lines if line.earlier)
    sign_in(page, "auditor")
    page.goto(f"/console/families/{family_id}#deadlines")
    table = page.locator("table.deadlines")
    expect(table.locator("tbody tr")).to_have_count(len(lines))
    expect(table.get_by_text(f"and {len(folded.earlier)} earlier").first).to_be_visible()
    strip = page.locator("figure.timeline svg g.history").first
    expect(strip).to_be_visible()
    assert "earlier clock" in strip.locator("title").text_content()
    axe()
    shot("console-family-folded")
    page.get_by_role("link", name="Show every clock on a line of its own").click()
    expect(page.locator("table.deadlines tbody tr")).to_have_count(len(clocks))
    expect(page.locator("figure.timeline svg g.history")).to_have_count(0)
    axe()


def test_an_auditor_finds_a_family_by_nhs_number_and_postcode_and_reads_who_is_who(
        page: Page, served: Served, shot: Any, axe: Any, page_watch: Any) -> None:
    """Issue 25: a child's NHS number finds their family, so does a postcode it lived at; a
    mistyped NHS number is said to be wrong on the page; the family page names each
    member's relationship to the children, their identifiers and the family's address."""
    ledger = served.ledger
    family_id = next(f for f in ledger.family_ids()
                     if any(m["nhs_number"] for m in families.family(ledger, f)["members"]))
    state = families.family(ledger, family_id)
    child = next(m for m in state["members"] if m["nhs_number"])
    mother = next(m for m in state["members"] if m["relationship"] == "parent" and m["gender"] == "2")
    postcode = state["addresses"][-1]["postcode"]
    sign_in(page, "auditor", user_id="demo-auditor")
    page.goto("/console/families")

    number = child["nhs_number"]
    page.get_by_label("NHS number").fill(f"{number[:3]} {number[3:6]} {number[6:]}")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 family")).to_be_visible()
    row = page.locator("li.matched")
    expect(row).to_contain_text(f"{child['given_name']} {child['family_name']}")
    expect(row).to_contain_text(f"NHS number {number[:3]} {number[3:6]} {number[6:]}")
    axe()
    shot("console-search-nhs-number")
    fits_a_phone(page)

    page.get_by_label("NHS number").fill(number[:9] + str((int(number[9]) + 1) % 10))
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("check digit")
    page_watch.expect_errors("422")  # the page answered 422, as a form with an error is
    axe()

    page.get_by_label("NHS number").fill("")
    page.get_by_label("Postcode").fill(postcode.lower().replace(" ", ""))
    page.get_by_role("button", name="Search").click()
    expect(page.locator(f'a[href="/console/families/{family_id}"]')).to_be_visible()
    page.locator(f'a[href="/console/families/{family_id}"]').click()

    members = page.locator("table.members")
    expect(members.get_by_role("row", name=f"{mother['given_name']} {mother['family_name']}")).to_contain_text(
        "mother")
    expect(members).to_contain_text(f"NHS number {number[:3]} {number[3:6]} {number[6:]}")
    expect(page.get_by_text("Lives at")).to_be_visible()
    expect(page.get_by_text(postcode).first).to_be_visible()
    axe()
    shot("console-family-members")
    fits_a_phone(page)
