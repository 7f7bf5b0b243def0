"""The review console as a client sees it over HTTP (pages, cookies, redirects, the access
log): who may open which page, signing in and out, finding a family, the family page as it
stands and as it stood. What a person sees in a browser is in ``tests/browser/``."""

from __future__ import annotations

import collections
import html
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.access import SESSION_COOKIE
from api.app import served_routes
from console.access import PAGES
from console.app import create_app
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, ok, open_ledger, register, settings_for
from tests.registration import post_family

pytestmark = pytest.mark.one_database


@pytest.fixture
def world(database: str, request: pytest.FixtureRequest, tmp_path: Any, clock: Any) -> Iterator[Any]:
    ledger = open_ledger(settings_for(database, tmp_path / "data", request, console_demo_sign_in=True), clock)
    with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
        yield client, ledger
    ledger.close()


def visible(page: str) -> str:
    """A page's text as a reader sees it: tags gone, entities read, spaces collapsed."""
    page = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def sign_in(client: TestClient, role: str, team: str | None = None, user_id: str = "reader") -> None:
    r = client.post("/console/sign-in", data={"user_id": user_id, "role": role, "team": team or "",
                                              "next": "/console/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/"


def the_family(client: TestClient) -> dict[str, Any]:
    fam = register(client)
    fid = fam["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "School worried about attendance",
                     "referrer_agency": "Hill Primary School", "occurred_at": "2026-01-05T09:00:00+00:00"})
    return fam


# -- the front door, signing in and out -------------------------------------------------------


def test_the_front_door_is_the_console_and_it_asks_who_you_are(world):
    client, _ = world
    r = client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/")
    r = client.get("/console/families?name=stone", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in?next=%2Fconsole%2Ffamilies%3Fname%3Dstone"
    page = client.get("/console/sign-in").text
    assert "Demo only" in visible(page) and 'name="role"' in page and 'for="user_id"' in page


def test_the_session_cookie_is_httponly_samesite_strict_short_lived_and_secure_over_https(world):
    client, ledger = world
    r = client.post("/console/sign-in", data={"user_id": "ada", "role": "auditor"}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert f"Max-Age={ledger.settings.console_session_minutes * 60}" in cookie
    secure = TestClient(client.app, base_url="https://ledger.example")
    r = secure.post("/console/sign-in", data={"user_id": "ada", "role": "auditor"}, follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"]


def test_sign_in_refuses_what_is_not_a_person_in_a_role_and_says_why(world):
    client, _ = world
    r = client.post("/console/sign-in", data={"user_id": "", "role": "practitioner", "team": "nowhere"})
    assert r.status_code == 422
    text = visible(r.text)
    assert "There is a problem" in text and "Enter a user id" in text and "Choose the team" in text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    r = client.post("/console/sign-in", data={"user_id": "x", "role": "service"})
    assert r.status_code == 422 and "Choose a role" in visible(r.text)


def test_demo_sign_in_is_off_unless_the_setting_turns_it_on(database, request, tmp_path, clock):
    ledger = open_ledger(settings_for(database, tmp_path / "off", request), clock)
    try:
        with TestClient(create_app(ledger)) as client:
            assert "Demo sign-in is turned off" in visible(client.get("/console/sign-in").text)
            r = client.post("/console/sign-in", data={"user_id": "ada", "role": "auditor"}, follow_redirects=False)
            assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    finally:
        ledger.close()


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(world):
    client, _ = world
    sign_in(client, "auditor")
    copy = client.cookies[SESSION_COOKIE]
    assert client.get("/console/families").status_code == 200
    r = client.post("/console/sign-out", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, copy)
    r = client.get("/console/families", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")


def test_the_api_never_takes_the_session_cookie(world):
    """A browser sends the cookie on its own; only the read-only pages accept it."""
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor")
    assert client.get(f"/families/{fid}").status_code == 401
    r = client.post(f"/families/{fid}/commands", json={"type": "CaseNoteRecorded", "text": "x"})
    assert r.status_code == 401


def test_after_sign_in_only_a_console_page_of_this_site_is_where_you_go(world):
    client, _ = world
    for target in ("https://evil.example/", "//evil.example/console/", "/docs", "/console\\@evil"):
        r = client.post("/console/sign-in", data={"user_id": "ada", "role": "auditor", "next": target},
                        follow_redirects=False)
        assert r.headers["location"] == "/console/", target


# -- the same rules as the API ----------------------------------------------------------------

ROLES = {
    "practitioner of the family's team": ("practitioner", "north"),
    "practitioner of another team": ("practitioner", "south"),
    "manager of the family's team": ("manager", "north"),
    "auditor": ("auditor", None),
    "inspector": ("inspector", None),
    "admin": ("admin", None),
}
EXPECTED = {
    # page: who may open it (by the keys above)
    "/console/": set(ROLES),
    "/console/families": set(ROLES) - {"admin"},
    "/console/families/{fid}": {"practitioner of the family's team", "manager of the family's team", "auditor",
                                "inspector"},
    "/console/families/{fid}/oversight": {"practitioner of the family's team", "manager of the family's team",
                                          "auditor", "inspector"},
    "/console/families/{fid}/access-log": {"manager of the family's team", "auditor"},
    "/console/families/{fid}/download?profile=court&format=csv": {
        "practitioner of the family's team", "manager of the family's team", "auditor", "inspector"},
    "/console/team?team=north": {"practitioner of the family's team", "manager of the family's team", "auditor",
                                 "inspector"},
    "/console/policies": set(ROLES),
    "/console/policies/durham-one-point": set(ROLES),
}


def test_every_page_is_open_to_exactly_the_roles_the_api_allows_for_the_same_read(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    for who, (role, team) in ROLES.items():
        client.cookies.clear()
        sign_in(client, role, team)
        for path, allowed in EXPECTED.items():
            r = client.get(path.format(fid=fid), follow_redirects=False)
            if who in allowed:
                assert r.status_code == 200, (who, path, r.status_code, visible(r.text)[:300])
            else:
                assert r.status_code == 403, (who, path, r.status_code)
                assert r.headers["content-type"].startswith("text/html") and "Forbidden" in visible(r.text)


def test_the_table_covers_every_console_route(world):
    client, _ = world
    paths = {(m, r.path) for r in served_routes(client.app) for m in getattr(r, "methods", ()) or ()}
    routes = {(m, p) for m, p in paths if m != "HEAD" and (p == "/" or p.startswith("/console"))}
    assert routes == set(PAGES)


def test_a_family_page_writes_the_same_access_log_row_as_the_api_read(world):
    client, ledger = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor", user_id="ada")
    assert client.get(f"/console/families/{fid}").status_code == 200
    sign_in(client, "practitioner", "south", user_id="sol")
    assert client.get(f"/console/families/{fid}").status_code == 403
    reads = client.get(f"/families/{fid}/access-log", headers=AUDITOR).json()["reads"]
    page_reads = [(r["user_id"], r["role"], r["action"], r["outcome"]) for r in reads
                  if r["path"] == f"/console/families/{fid}"]
    assert page_reads == [("ada", "auditor", "family", "allowed"), ("sol", "practitioner", "family", "refused")]


# -- finding a family -------------------------------------------------------------------------


def test_a_family_is_found_by_the_beginning_of_a_name_whatever_its_case_and_accents(world):
    client, _ = world
    fam = the_family(client)
    r = post_family(client, headers=PRACTITIONER, json={"policy": "durham-one-point", "team": "north", "members": [
        {"given_name": "Éloïse", "family_name": "Zoë-Marsh", "date_of_birth": "2015-01-02", "kind": "child"}]})
    eloise = r.json()["family_id"]
    sign_in(client, "auditor")
    page = client.get("/console/families", params={"name": "ELO zoe"}).text
    assert f"/console/families/{eloise}" in page and f"/console/families/{fam['family_id']}" not in page
    assert "1 family" in visible(page)
    page = client.get("/console/families", params={"name": "av st"}).text
    assert f"/console/families/{fam['family_id']}" in page and "Ava Stone" in visible(page)
    page = client.get("/console/families", params={"date_of_birth": "2015-01-02"}).text
    assert f"/console/families/{eloise}" in page and f"/console/families/{fam['family_id']}" not in page
    page = client.get("/console/families", params={"id": fam["members"][0]["member_id"]}).text
    assert f"/console/families/{fam['family_id']}" in page and f"/console/families/{eloise}" not in page


def test_a_search_is_logged_for_each_family_it_showed_with_the_name_withheld(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor", user_id="ada")
    client.get("/console/families", params={"name": "stone"})
    reads = client.get(f"/families/{fid}/access-log", headers=AUDITOR).json()["reads"]
    [search] = [r for r in reads if r["path"] == "/console/families"]
    assert search["action"] == "search" and "stone" not in search["query"] and "withheld" in search["query"]


def test_a_practitioner_finds_nothing_of_a_family_their_team_does_not_hold(world):
    client, _ = world
    the_family(client)
    sign_in(client, "practitioner", "south")
    page = visible(client.get("/console/families", params={"name": "stone"}).text)
    assert "0 families" in page and "Ava" not in page


def test_an_erased_family_is_never_found(world):
    client, _ = world
    fid = register(client)["family_id"]  # no episode open: erasure is allowed
    r = client.post(f"/families/{fid}/erasure", headers=auth("admin", "adam", None),
                    json={"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"})
    assert r.status_code in (200, 201), r.text
    sign_in(client, "auditor")
    for params in ({"name": "stone"}, {"date_of_birth": "2016-05-04"}, {"status": "closed"}, {"status": "any"}):
        assert f"/console/families/{fid}" not in client.get("/console/families", params=params).text, params


def test_a_bad_search_says_what_is_wrong_on_the_page(world):
    client, _ = world
    sign_in(client, "auditor")
    r = client.get("/console/families", params={"date_of_birth": "2016-13-45"})
    assert r.status_code == 422
    assert "There is a problem" in visible(r.text) and 'href="#date_of_birth"' in r.text
    r = client.get("/console/families", params={"nmae": "stone"})
    assert r.status_code == 422 and "unknown parameter" in visible(r.text)


# -- the family page --------------------------------------------------------------------------


def test_the_family_page_shows_members_episode_chronology_and_deadlines_with_their_sources(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor")
    r = client.get(f"/console/families/{fid}")
    text = visible(r.text)
    assert "Stone family" in text
    assert "Ava Stone" in text and "04/05/2016" in text  # dates as staff write them
    assert "Referral received from Hill Primary School" in text
    assert "000_5f8893c51560d94f.txt" in text  # each deadline cites its seed
    assert '<svg' in r.text and 'role="img"' in r.text
    for profile in ("court", "practice", "review"):
        assert f"profile={profile}" in r.text


def test_a_correction_is_shown_struck_through_and_a_past_view_shows_the_original(world):
    client, ledger = world
    fam = the_family(client)
    fid = fam["family_id"]
    ava, ben, cara = (m["member_id"] for m in fam["members"])
    visit = ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "location": "home",
                             "members_present": [ava], "children_seen": [ava], "children_seen_alone": [],
                             "occurred_at": "2026-01-07T11:00:00+00:00"})
    before = ledger.clock()
    ok(client, fid, {"type": "EntryCorrected", "corrects": visit["event_id"], "changes": {"location": "school"},
                     "reason": "the visit was at school"})
    sign_in(client, "auditor")
    now = client.get(f"/console/families/{fid}").text
    assert re.search(r"<del>\s*home\s*</del>\s*<ins>\s*school\s*</ins>", now)
    assert "the visit was at school" in visible(now) and "Visit with the family at school" in visible(now)
    local = before.astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))
    then = client.get(f"/console/families/{fid}", params={"as_at": local.strftime("%Y-%m-%dT%H:%M:%S.%f")})
    assert then.status_code == 200, visible(then.text)[:500]
    text = visible(then.text)
    assert "A past view" in text and "Visit with the family at home" in text
    assert "the visit was at school" not in text and "<del>" not in then.text


def test_a_decision_opens_what_the_decision_maker_saw(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    allocated = ok(client, fid, {"type": "AllocatedToTeam", "team": "north", "pathway": "intensive-family-support"},
                   headers=auth("manager", "meg", "north"))
    sign_in(client, "auditor")
    page = client.get(f"/console/families/{fid}").text
    link = f"/console/families/{fid}/decisions/{allocated['event_id']}"
    assert link in page
    seen = client.get(link)
    assert seen.status_code == 200
    text = visible(seen.text)
    assert "What the decision-maker saw" in text and "A past view" in text
    assert "Referral received" in text  # the record as it stood just before
    referral = next(e for e in client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
                    if e["type"] == "ReferralReceived")
    r = client.get(f"/console/families/{fid}/decisions/{referral['event_id']}")
    assert r.status_code == 422 and "is not a decision" in visible(r.text)


def test_a_past_view_of_a_moment_still_to_come_is_refused_on_the_page(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor")
    r = client.get(f"/console/families/{fid}", params={"as_at": "2099-01-01T00:00"})
    assert r.status_code == 422 and "Choose a moment in the past" in visible(r.text)
    r = client.get(f"/console/families/{fid}", params={"as_at": "yesterday"})
    assert r.status_code == 422 and "Enter a real date" in visible(r.text)


def test_a_download_is_the_chronology_file_and_is_logged_as_an_export(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor", user_id="ada")
    r = client.get(f"/console/families/{fid}/download", params={"profile": "court", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert "Referral received" in r.text
    r = client.get(f"/console/families/{fid}/download", params={"profile": "review", "format": "docx"})
    assert r.status_code == 200 and r.content[:2] == b"PK"
    reads = client.get(f"/families/{fid}/access-log", headers=AUDITOR).json()["reads"]
    assert [r["action"] for r in reads if r["path"].endswith("/download")] == ["export", "export"]


def test_pages_load_nothing_from_elsewhere_and_are_not_cached(world):
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor")
    r = client.get(f"/console/families/{fid}")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert not re.search(r'(src|href)="(https?:)?//', r.text)
    css = client.get("/console/static/console.css")
    assert css.status_code == 200 and "@media print" in css.text


def test_a_teams_deadlines_list_closed_families_when_asked(world):
    """What is due is about open families; a case review asks what was left undone in
    closed ones (``episodes=closed``, in the API and on the team page)."""
    client, _ = world
    fid = the_family(client)["family_id"]
    manager = auth("manager", "meg", "north")
    open_rows = client.get("/deadlines", params={"team": "north"}, headers=manager).json()["deadlines"]
    assert {r["family_id"] for r in open_rows} == {fid}
    assert client.get("/deadlines", params={"team": "north", "episodes": "closed"},
                      headers=manager).json()["deadlines"] == []
    for body in ({"type": "ClosureProposed", "reason": "outcomes_met"}, {"type": "ClosureAuthorised"},
                 {"type": "DocumentRecorded", "document": "family-survey"},
                 {"type": "EpisodeClosed", "reason": "outcomes_met"}):
        ok(client, fid, body, headers=manager)
    assert client.get("/deadlines", params={"team": "north"}, headers=manager).json()["deadlines"] == []
    closed = client.get("/deadlines", params={"team": "north", "episodes": "closed"}, headers=manager).json()
    assert {r["family_id"] for r in closed["deadlines"]} == {fid}
    both = client.get("/deadlines", params={"team": "north", "episodes": "any"}, headers=manager).json()
    assert len(both["deadlines"]) == len(closed["deadlines"])
    sign_in(client, "manager", "north")
    page = client.get("/console/team", params={"team": "north", "show": "overdue", "episodes": "closed"})
    assert page.status_code == 200 and "Closed families' clocks" in visible(page.text)


def test_the_document_preview_is_the_pdfs_template_logged_as_an_export(world):
    """``/console/families/{id}/document`` shows the chronology document in the browser
    from the template the PDF is made from: its running header, table and links to the
    files; its stylesheet is served; it is read as an export and logged as one."""
    client, _ = world
    fid = the_family(client)["family_id"]
    sign_in(client, "auditor", user_id="ada")
    r = client.get(f"/console/families/{fid}/document", params={"profile": "court", "case_number": "ZW26C00123"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "ZW26C00123" in page and "Prepared by" in page and "Referral received" in page
    assert "<thead>" in page and "Download PDF" in page
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:", page.split("<body", 1)[1])  # no ISO moment a person reads
    sheet = re.search(r'href="(/console/static/documents/[^"]+\.css)"', page)
    assert sheet and client.get(sheet.group(1)).status_code == 200
    reads = client.get(f"/families/{fid}/access-log", headers=AUDITOR).json()["reads"]
    assert [r["action"] for r in reads if r["path"].endswith("/document")] == ["export"]
    bad = client.get(f"/console/families/{fid}/document", params={"profile": "gossip"})
    assert bad.status_code == 422


def test_the_family_page_names_the_lead_and_the_other_workers_as_people(world):
    """Workers are named as people ("Sam Jones, Family Support Worker") from the staff
    directory; one not in it shows the id, marked as such (ADR 0030)."""
    client, ledger = world
    fid = the_family(client)["family_id"]
    ledger.staff.put("sam", "Sam Jones", "Family Support Worker", "admin")
    for worker, lead in (("sam", True), ("kit", False)):
        ok(client, fid, {"type": "AllocatedToWorker", "worker_id": worker, "lead_professional": lead,
                         "occurred_at": "2026-01-06T10:00:00+00:00"}, MANAGER)
    sign_in(client, "auditor")
    r = client.get(f"/console/families/{fid}")
    assert r.status_code == 200, r.text
    text = visible(r.text)
    assert "Lead worker Sam Jones, Family Support Worker" in text, text[:2000]
    assert "Other workers kit (not in the staff directory)" in text


def _visited_family(client: TestClient, visits: int) -> str:
    """A family allocated to a worker who then visits every week, seeing both children:
    every visit stops the children's "seen" clocks and starts the next ones."""
    fid = the_family(client)["family_id"]
    state = client.get(f"/families/{fid}", headers=MANAGER).json()
    children = [m["member_id"] for m in state["members"] if m["kind"] == "child"]
    adult = next(m["member_id"] for m in state["members"] if m["kind"] == "adult")
    for body in ({"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub",
                  "occurred_at": "2026-01-06T09:00:00+00:00"},
                 {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": "2026-01-07T09:00:00+00:00"}):
        ok(client, fid, body)
    for week in range(visits):
        ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "members_present": [adult],
                         "children_seen": children, "children_seen_alone": children,
                         "occurred_at": (datetime(2026, 1, 8, 10, tzinfo=timezone.utc)
                                         + timedelta(weeks=week)).isoformat()})
    return fid


def test_a_recurring_rules_earlier_clocks_fold_into_its_latest_and_every_clock_is_one_click_away(world):
    client, _ = world
    fid = _visited_family(client, 8)
    clocks = client.get(f"/families/{fid}/deadlines", headers=AUDITOR).json()["deadlines"]
    per_line = collections.Counter((c["rule"], c["member"]) for c in clocks if c["started_at"])
    recurring = {key: n for key, n in per_line.items() if n > 1}
    assert recurring, per_line  # the visits restart some clock
    sign_in(client, "auditor")
    page = client.get(f"/console/families/{fid}").text
    table = page[page.index('class="table deadlines"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") - 1 == len(clocks) - sum(n - 1 for n in recurring.values())
    folded = sum(n - 1 for n in recurring.values())
    text = visible(page)
    assert f"({folded} earlier clocks)" in text and "Show every clock on a line of its own" in text
    assert re.search(r"and \d+ earlier: \d+ met", visible(table))
    drawn = sum(int(n) for n in re.findall(r'class="history" data-clocks="(\d+)"', page))
    assert drawn == folded  # the timeline draws them on their rule's row, thin
    assert "earlier clocks of recurring rules drawn thin" in page  # and says so in its description
    every = client.get(f"/console/families/{fid}", params={"deadlines": "all"}).text
    table = every[every.index('class="table deadlines"'):]
    assert table[:table.index("</table>")].count("<tr>") - 1 == len(clocks)
    assert 'class="history"' not in every and "Fold each recurring rule" in visible(every)


def test_a_long_chronology_is_read_a_page_at_a_time(world, monkeypatch):
    client, _ = world
    monkeypatch.setattr("console.pages.ENTRIES_A_PAGE", 4)
    fid = _visited_family(client, 6)
    entries = client.get(f"/families/{fid}/chronology", headers=AUDITOR).json()["entries"]
    assert len(entries) == 10
    sign_in(client, "auditor")
    first = visible(client.get(f"/console/families/{fid}").text)
    assert "Entries 1 to 4 of 10 (page 1 of 3)" in first and "Next page of the chronology" in first
    review = client.get(f"/families/{fid}/chronology", params={"profile": "review"}, headers=AUDITOR).json()
    assert len(review["entries"]) > 4  # a profile's layout is paged the same way
    layout = client.get(f"/console/families/{fid}", params={"page": 2, "profile": "review"})
    assert f"Entries 5 to {min(8, len(review['entries']))} of {len(review['entries'])}" in visible(layout.text)
    second = client.get(f"/console/families/{fid}", params={"page": 2}).text
    assert "Entries 5 to 8 of 10 (page 2 of 3)" in visible(second)
    shown = re.findall(r'<tr id="entry-([0-9a-f-]+)"', second)
    assert shown == [e["event_id"] for e in entries[4:8]]
    beyond = client.get(f"/console/families/{fid}", params={"page": 9})
    assert "Entries 9 to 10 of 10 (page 3 of 3)" in visible(beyond.text)  # past the end: the last page
    assert client.get(f"/console/families/{fid}", params={"page": 0}).status_code == 422
