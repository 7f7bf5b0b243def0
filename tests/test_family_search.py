"""Finding a family (``GET /families``, ``queries.search.find_families``): by the beginning
of a member's name whatever its case and accents, by date of birth, by a family's or a
member's id, by team, lead worker, pack and status, paged and sorted; closed families
found, erased ones never; a team role finds only its own team's; each family shown is in
the access log with the name searched for withheld; bad input is refused naming the field.

The families: Éloïse Dubois-Martin and her father Marc (north, Durham, open, worked by
Wes), the Stones (north, Durham, closed), the Lees (south, Northamptonshire, open; Ava
Lee shares Ava Stone's birthday) and the Okafors (north, Haringey, registered and never
referred).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from aggregates.errors import InvalidCommand
from projections.projector import Projector
from queries.reading import InvalidQuery
from queries.search import find_families
from replay.rebuild import rebuild
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, close_episode, ok
from tests.registration import post_family

# Storage-neutral (docs/testing.md): what is found, refused and logged is decided above the
# database, so one database; the search's SQL (the blind index's tokens, the filters,
# counting, paging and ordering, the caseload columns a rebuild fills) is marked storage
# below and runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.one_database

SOUTH = auth("practitioner", "sol", "south")
SOUTH_MANAGER = auth("manager", "sue", "south")
ADMIN = auth("admin", "adam", None)
ERASE = {"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"}


def _register(client: Any, policy: str, team: str, members: list[tuple[str, str, str, str]],
              headers: dict[str, str] = PRACTITIONER) -> dict[str, Any]:
    r = post_family(client, headers=headers, json={"policy": policy, "team": team, "members": [
        {"given_name": g, "family_name": f, "date_of_birth": born, "kind": kind} for g, f, born, kind in members]})
    assert r.status_code == 201, r.text
    found = r.json()
    return {"family_id": found["family_id"], **{m["given_name"]: m["member_id"] for m in found["members"]}}


@pytest.fixture
def families(client: Any) -> dict[str, dict[str, Any]]:
    eloise = _register(client, "durham-one-point", "north", [
        ("Éloïse", "Dubois-Martin", "2015-06-01", "child"), ("Marc", "Dubois", "1984-09-12", "adult")])
    ok(client, eloise["family_id"], {"type": "ReferralReceived", "route": "professional", "reason": "attendance"},
       MANAGER)
    ok(client, eloise["family_id"], {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub"},
       MANAGER)
    ok(client, eloise["family_id"], {"type": "AllocatedToWorker", "worker_id": "wes"}, MANAGER)
    stones = _register(client, "durham-one-point", "north", [
        ("Ava", "Stone", "2016-05-04", "child"), ("Ben", "Stone", "2026-03-01", "child"),
        ("Cara", "Stone", "1990-02-03", "adult")])
    ok(client, stones["family_id"], {"type": "ReferralReceived", "route": "self", "reason": "housing"}, MANAGER)
    close_episode(client, stones["family_id"])
    lees = _register(client, "northamptonshire-0-19", "south", [
        ("Ava", "Lee", "2016-05-04", "child"), ("Pam", "Lee", "1985-01-01", "adult")], SOUTH)
    ok(client, lees["family_id"], {"type": "ReferralReceived", "route": "self", "reason": "help"}, SOUTH_MANAGER)
    okafors = _register(client, "haringey-early-help", "north", [("Chidi", "Okafor", "2019-11-30", "child")])
    return {"eloise": eloise, "stones": stones, "lees": lees, "okafors": okafors}


def find(client: Any, headers: dict[str, str] = AUDITOR, **params: Any) -> dict[str, Any]:
    r = client.get("/families", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def ids(found: dict[str, Any]) -> list[str]:
    return [f["family_id"] for f in found["families"]]


# --- by name, date of birth and id --------------------------------------------------------------


@pytest.mark.storage
def test_the_beginning_of_a_name_finds_the_family_whatever_its_case_and_accents(client, families):
    eloise, stones = families["eloise"], families["stones"]
    for name in ("ÉLO", "elo", "Eloise", "éloïse dubois", "dubois-mar", "MARTIN"):
        found = find(client, name=name)
        assert ids(found) == [eloise["family_id"]], name
        assert found["total"] == 1 and found["pages"] == 1
    family = find(client, name="ÉLO")["families"][0]
    assert family["matched"] == [eloise["Éloïse"]]
    assert [(m["given_name"], m["family_name"], m["date_of_birth"], m["kind"]) for m in family["members"]] == [
        ("Éloïse", "Dubois-Martin", "2015-06-01", "child"), ("Marc", "Dubois", "1984-09-12", "adult")]
    assert (family["team"], family["policy"], family["worker"], family["status"], family["open"],
            family["children"]) == ("north", "durham-one-point", "wes", "open", True, 1)
    # "ava st" is Ava Stone, not Ava Lee; "dubois" is both of Éloïse's family.
    assert ids(find(client, name="ava st")) == [stones["family_id"]]
    assert find(client, name="ava st")["families"][0]["matched"] == [stones["Ava"]]
    assert find(client, name="dubois")["families"][0]["matched"] == [eloise["Éloïse"], eloise["Marc"]]
    assert find(client, name="eloise stone")["total"] == 0, "every word belongs to the same person"
    assert find(client, name="zz")["total"] == 0


@pytest.mark.storage
def test_a_date_of_birth_finds_everyone_born_that_day_and_with_a_name_the_same_person(client, families):
    stones, lees = families["stones"], families["lees"]
    both = find(client, date_of_birth="2016-05-04")
    assert sorted(ids(both)) == sorted([stones["family_id"], lees["family_id"]])
    assert {UUID(m) for f in both["families"] for m in f["matched"]} == {UUID(stones["Ava"]), UUID(lees["Ava"])}
    assert ids(find(client, name="ava lee", date_of_birth="2016-05-04")) == [lees["family_id"]]
    assert find(client, name="ben", date_of_birth="2016-05-04")["total"] == 0, "Ben was born another day"


def test_a_familys_id_a_members_id_or_the_first_eight_digits_of_either_finds_the_family(client, families):
    eloise, stones = families["eloise"], families["stones"]
    assert ids(find(client, id=eloise["family_id"])) == [eloise["family_id"]]
    assert ids(find(client, id=eloise["family_id"].replace("-", "").upper())) == [eloise["family_id"]]
    assert ids(find(client, id=eloise["family_id"][:8])) == [eloise["family_id"]]
    by_member = find(client, id=stones["Ben"])
    assert ids(by_member) == [stones["family_id"]] and by_member["families"][0]["matched"] == [stones["Ben"]]
    assert ids(find(client, id=stones["Ben"][:8])) == [stones["family_id"]]
    assert find(client, id="00000000-0000-4000-8000-000000000000")["total"] == 0
    # With other criteria, all must hold.
    assert find(client, id=eloise["family_id"], status="closed")["total"] == 0


# --- by team, worker, pack and status; browsing ---------------------------------------------------


def test_team_worker_pack_and_status_narrow_and_closed_families_are_found(client, families):
    eloise, stones, lees, okafors = (families[k]["family_id"] for k in ("eloise", "stones", "lees", "okafors"))
    assert sorted(ids(find(client))) == sorted([eloise, stones, lees, okafors]), "no criterion: every family"
    assert set(ids(find(client, team="north"))) == {eloise, stones, okafors}
    assert ids(find(client, team="south")) == [lees]
    assert ids(find(client, worker="wes")) == [eloise]
    assert ids(find(client, policy="northamptonshire-0-19")) == [lees]
    assert set(ids(find(client, status="open"))) == {eloise, lees}
    assert ids(find(client, status="closed")) == [stones]
    assert ids(find(client, status="no_episode")) == [okafors]
    assert set(ids(find(client, status="any", team="north", policy="durham-one-point"))) == {eloise, stones}
    assert ids(find(client, name="stone", status="closed", team="north")) == [stones]
    closed = find(client, id=stones)["families"][0]
    assert (closed["status"], closed["open"], closed["worker"]) == ("closed", False, None)


def test_a_team_role_finds_only_the_families_its_team_holds(client, families):
    eloise, lees = families["eloise"]["family_id"], families["lees"]["family_id"]
    assert ids(find(client, SOUTH)) == [lees], "browsing: their own team's only"
    for params in ({"name": "éloïse"}, {"id": eloise}, {"id": families["eloise"]["Marc"]}, {"worker": "wes"}):
        assert find(client, SOUTH, **params)["total"] == 0, params
    assert ids(find(client, PRACTITIONER, name="éloïse")) == [eloise]
    r = client.get("/families", params={"team": "north"}, headers=SOUTH)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/families", headers=auth("service", "feeder", None)).status_code == 403
    assert client.get("/families", headers=ADMIN).status_code == 403


# --- paging and sorting ----------------------------------------------------------------------


@pytest.mark.storage
def test_pages_count_every_match_and_never_overlap_in_each_order(client, families):
    east = auth("practitioner", "eve", "east")
    more = [_register(client, "durham-one-point", "east", [(f"Kid{i}", "Ng", f"2018-01-0{i + 1}", "child")], east)
            for i in range(5)]
    first, last = more[0]["family_id"], more[-1]["family_id"]
    page1 = find(client, team="east", per_page=2)
    assert (page1["total"], page1["pages"], page1["page"], page1["per_page"]) == (5, 3, 1, 2)
    assert ids(page1) == [last, more[-2]["family_id"]], "the latest entry first"
    page2 = find(client, team="east", per_page=2, page=2)
    assert page2["total"] == 5 and len(page2["families"]) == 2 and not set(ids(page1)) & set(ids(page2))
    assert len(find(client, team="east", per_page=2, page=3)["families"]) == 1
    assert find(client, team="east", per_page=2, page=4)["families"] == [], "past the last page: none"
    # A new entry brings a family to the top (one that changes its state, and one that
    # does not); the order of registration does not move.
    for fid in (first, more[1]["family_id"]):
        ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help"}, east)
    assert ids(find(client, team="east"))[:2] == [more[1]["family_id"], first]
    ok(client, first, {"type": "CaseNoteRecorded", "text": "called in"}, east)
    recent = find(client, team="east")
    assert ids(recent)[:2] == [first, more[1]["family_id"]]
    assert recent["families"][0]["last_activity_at"] > recent["families"][0]["registered_at"]
    assert ids(find(client, team="east", sort="registered")) == [m["family_id"] for m in reversed(more)]
    # By team: east, then north, then south; each page once.
    everyone = [f for p in (1, 2, 3) for f in find(client, sort="team", per_page=3, page=p)["families"]]
    assert [f["team"] for f in everyone] == sorted(f["team"] for f in everyone)
    assert len({f["family_id"] for f in everyone}) == 9 == find(client)["total"]


# --- erasure ----------------------------------------------------------------------------------


@pytest.mark.storage
def test_an_erased_family_is_never_found_and_a_rebuild_keeps_it_so(client, ledger, families):
    stones = families["stones"]
    before = find(client)["total"]
    assert ids(find(client, name="stone")) == [stones["family_id"]]
    r = client.post(f"/families/{stones['family_id']}/erasure", headers=ADMIN, json=ERASE)
    assert r.status_code == 201, r.text

    def nowhere() -> None:
        assert find(client, name="stone")["total"] == 0
        assert find(client, date_of_birth="2016-05-04")["families"][0]["family_id"] == families["lees"]["family_id"]
        for key in (stones["family_id"], stones["family_id"][:8], stones["Ava"]):
            assert find(client, id=key)["total"] == 0, key
        for params in ({}, {"status": "closed"}, {"team": "north"}, {"sort": "registered"}):
            assert stones["family_id"] not in ids(find(client, **params)), params
        assert find(client)["total"] == before - 1

    nowhere()
    assert client.get("/retention/due", params={"as_of": "2099-01-01"}, headers=ADMIN).status_code == 200
    rebuild(Projector(ledger))
    nowhere()


@pytest.mark.storage
def test_a_rebuild_fills_the_search_columns_as_processing_event_by_event_did(ledger, client, families):
    projector = client.app.state.projector
    before = projector.dump(["caseloads"])
    rebuild(projector)
    assert projector.dump(["caseloads"]) == before


def test_a_caseloads_table_of_the_previous_version_is_made_afresh_and_filled_from_the_log(ledger, client, families):
    """A ledger whose caseload table has the version 2 columns (no registration, last
    entry or status) gets it made afresh when the service starts, and the search works."""
    projector = client.app.state.projector
    store = projector.store
    with store.transaction({**store.tables(["caseload_families"]), "projection_formats": store.table(
            "projection_formats")}) as tx:
        tx.run("DROP TABLE {caseload_families}")
        tx.run("CREATE TABLE {caseload_families} (family_id TEXT PRIMARY KEY, policy TEXT NOT NULL, "
               "team TEXT NOT NULL, worker TEXT, open INTEGER NOT NULL, children INTEGER NOT NULL, pending_team TEXT)")
        store.set_format(tx, "caseloads", 2)
    starting = Projector(ledger)
    starting.catch_up()
    found = find_families(starting, name="ÉLO")
    assert [str(f["family_id"]) for f in found["families"]] == [families["eloise"]["family_id"]]
    assert find_families(starting)["total"] == 4


# --- the access log -------------------------------------------------------------------------


def test_the_access_log_has_one_row_per_family_shown_with_the_name_withheld(client, ledger, families):
    before = ledger.access_log.head()[0]
    shown = find(client, name="stone", per_page=1)
    assert shown["total"] == 1
    last = ledger.access_log.for_family(UUID(families["stones"]["family_id"]))[-1]
    assert (last["action"], last["outcome"], last["user_id"]) == ("search", "allowed", "ada")
    assert last["query"] == "name=%5Bwithheld%5D&per_page=1"
    assert "stone" not in str(last).lower()
    browse = find(client, per_page=3)
    assert ledger.access_log.head()[0] == before + 1 + 3, "one row per family shown, and no more"
    for fid in ids(browse):
        assert ledger.access_log.for_family(UUID(fid))[-1]["action"] == "search"
    find(client, date_of_birth="2016-05-04")
    assert ledger.access_log.for_family(UUID(families["lees"]["family_id"]))[-1]["query"] == (
        "date_of_birth=%5Bwithheld%5D")


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("params, field", [
    ({"page": 0}, "page"), ({"per_page": 1000}, "per_page"), ({"per_page": 0}, "per_page"),
    ({"status": "shut"}, "status"), ({"sort": "name"}, "sort"), ({"id": "not-a-uuid"}, "id"),
    ({"id": "1234567"}, "id"), ({"date_of_birth": "1899-12-31"}, "date_of_birth"),
    ({"date_of_birth": "2100-01-01"}, "date_of_birth"), ({"date_of_birth": "4 May 2016"}, "date_of_birth"),
    ({"name": "!!"}, "name"), ({"name": "a b"}, "name"), ({"name": ""}, "name"),
], ids=lambda v: str(v) if isinstance(v, dict) else None)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_logged(client, ledger, families, params, field):
    before = ledger.access_log.head()[0]
    r = client.get("/families", params=params, headers=AUDITOR)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert field in problem["detail"] and (problem.get("field") == field or any(
        e["field"] == f"query.{field}" for e in problem.get("errors", []))), problem
    assert ledger.access_log.head()[0] == before, "a refused search logs nothing: it showed nothing"


def test_the_query_function_refuses_what_cannot_be_asked_naming_the_field(client):
    projector = client.app.state.projector
    for kwargs, field in (({"page": 0}, "page"), ({"per_page": 101}, "per_page"), ({"status": "shut"}, "status"),
                          ({"sort": "age"}, "sort"), ({"family_or_member_id": "abc"}, "id"),
                          ({"date_of_birth": __import__("datetime").date(1899, 1, 1)}, "date_of_birth"),
                          ({"team": " "}, "team"), ({"name": "-"}, "name")):
        with pytest.raises(InvalidQuery) as refused:
            find_families(projector, **kwargs)
        assert isinstance(refused.value, InvalidCommand) and refused.value.field == field, kwargs
