"""The shipped packs load, cite real seed lines and match docs/policies.md; a malformed pack
is refused at start-up with the file, the rule and what is wrong."""

from __future__ import annotations

import os
import re
from itertools import product
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from ledger.policies.loader import PACKS_DIR, PackError, load_packs, shipped_packs
from ledger.policies.matching import ANY_MEMBER, MEMBER, _same, matches
from ledger.policies.render import render_markdown
from ledger.settings import Settings
from tests.conftest import MANAGER, PRACTITIONER, SECRET, open_ledger

# Storage-neutral (docs/testing.md): runs on one database (SQLite).
pytestmark = pytest.mark.one_database

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(os.environ.get("LEDGER_SEEDS_DIR", ROOT.parent / "shared" / "seeds"))
PACK_IDS = {"durham-one-point", "haringey-early-help", "northamptonshire-0-19",
            "leicestershire-early-help", "southampton-0-19"}


def test_the_five_councils_packs_ship_with_versions_and_effective_dates():
    packs = shipped_packs()
    assert set(packs) == PACK_IDS
    for pack in packs.values():
        assert pack.version and pack.effective_from.year >= 2015
        assert pack.rules, pack.id
        assert any(r.timed for r in pack.rules), pack.id


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed texts not found at {SEEDS} (set LEDGER_SEEDS_DIR)")
def test_every_rule_cites_lines_that_exist_in_its_seed():
    for pack in shipped_packs().values():
        seed = SEEDS / pack.seed
        assert seed.exists(), f"{pack.id}: seed {pack.seed} not found"
        length = len(seed.read_text(encoding="utf-8").splitlines())
        cited = [(f"rule {r.id}", r.source) for r in pack.rules]
        cited += [(f"pathway {t.id}", t.source) for t in pack.pathways]
        cited += [(f"role {t.title}", t.source) for t in pack.role_titles]
        for where, source in cited:
            assert source.seed == pack.seed, f"{pack.id} {where} cites another seed"
            assert max(source.lines) <= length, f"{pack.id} {where} cites L{max(source.lines)} of {length}"


def test_docs_policies_md_is_generated_from_the_packs():
    expected = render_markdown(shipped_packs())
    actual = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/policies.md is out of date: run `ledger policies render`"


# --- malformed packs ----------------------------------------------------------------

GOOD = (PACKS_DIR / "durham-one-point.toml").read_text(encoding="utf-8")
RULE = '''
[[rules]]
id = "broken-rule"
title = "A rule with a mistake"
category = "consent"
source = { seed = "000_5f8893c51560d94f.txt", lines = [617] }
start = { event = "AllocatedToWorker" }
stop = [{ event = "ConsentGiven", where = { scope = "support" } }]
duration = 10
unit = "working_days"
'''


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r.replace('scope = "support"', 'scope = "suport"'), r"broken-rule.*stop\[0\].*scope = 'suport'"),
    (lambda r: r.replace('event = "AllocatedToWorker"', 'event = "AllocatedToWokrer"'),
     r"broken-rule.*unknown event type 'AllocatedToWokrer'"),
    (lambda r: r.replace('unit = "working_days"', 'unit = "fortnights"'), r"broken-rule.*unit.*'working_days'"),
    (lambda r: r.replace("duration = 10\n", ""), r"broken-rule.*needs duration and unit"),
    (lambda r: r.replace('category = "consent"',
                         'category = "consent"\nextension = { roles = ["practitioner"], max_total = 20 }'),
     r"broken-rule.*extension.roles \['practitioner'\] may not extend"),
    (lambda r: r.replace('where = { scope = "support" }', 'where = { children_seen = "$member" }').replace(
        "ConsentGiven", "ContactMade"), r"broken-rule.*'\$member' is only meaningful in a per = 'child' rule"),
    (lambda r: r.replace('category = "consent"', 'category = "consent"\npathways = ["family-hubb"]'),
     r"broken-rule.*unknown pathways \['family-hubb'\]"),
    (lambda r: r.replace('category = "consent"', 'category = "consnet"'), r"broken-rule.*category"),
    (lambda r: r.replace('title = "A rule', 'titel = "A rule'), r"broken-rule.*titel.*Extra inputs are not permitted"),
    (lambda r: r.replace('lines = [617]', 'lines = []'), r"broken-rule.*source > lines"),
    (lambda r: r + r.replace("A rule with a mistake", "Again"),
     r"rule ids must be unique; repeated: \['broken-rule'\]"),
    (lambda r: r.replace('[[rules]]', '[[rules]\n'), r"not valid TOML"),
])
def test_a_malformed_pack_is_refused_naming_the_file_the_rule_and_the_problem(tmp_path, change, expected):
    (tmp_path / "durham-one-point.toml").write_text(GOOD + change(RULE), encoding="utf-8")
    with pytest.raises(PackError) as refused:
        load_packs(tmp_path)
    message = str(refused.value)
    assert message.startswith("durham-one-point.toml: "), message
    assert re.search(expected, message, re.S), message


def test_a_pack_whose_id_does_not_match_its_file_name_is_refused(tmp_path):
    (tmp_path / "durham.toml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PackError, match=r"durham.toml: pack id 'durham-one-point' must match the file name"):
        load_packs(tmp_path)


def test_the_ledger_does_not_start_with_a_malformed_pack(tmp_path):
    (tmp_path / "durham-one-point.toml").write_text(GOOD.replace('"fh-consent"', '"FH consent"'), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, policy_dir=tmp_path)
    with pytest.raises(PackError, match=r"rule \d+ \(id=FH consent\) > id"):
        open_ledger(settings)


def test_ledger_serve_refuses_to_start_with_a_malformed_pack_and_says_why(tmp_path):
    (tmp_path / "durham-one-point.toml").write_text(GOOD.replace('unit = "working_days"', 'unit = "days"', 1),
                                                     encoding="utf-8")
    from ledger.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve"], env={"LEDGER_POLICY_DIR": str(tmp_path),
                                                         "LEDGER_DATA_DIR": str(tmp_path / "data")})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "policy pack refused: durham-one-point.toml:" in result.output
    assert "unit" in result.output


def test_ledger_policies_check_lists_the_packs():
    result = CliRunner().invoke(cli, ["policies", "check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for pack_id in PACK_IDS:
        assert pack_id in result.output


# --- the policy endpoints ------------------------------------------------------------


def test_get_policies_lists_every_pack_and_get_one_shows_its_rules_with_sources(client):
    listing = client.get("/policies", headers=PRACTITIONER)
    assert listing.status_code == 200
    assert {p["id"] for p in listing.json()["policies"]} == PACK_IDS
    durham = client.get("/policies/durham-one-point", headers=MANAGER).json()
    consent = next(r for r in durham["rules"] if r["id"] == "fh-consent")
    assert consent["source"] == {"seed": "000_5f8893c51560d94f.txt", "lines": [617]}
    assert consent["duration"] == 10 and consent["unit"] == "working_days"


def test_an_unknown_pack_is_a_404_problem(client):
    r = client.get("/policies/atlantis", headers=PRACTITIONER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert "durham-one-point" in r.json()["detail"]


def test_policies_need_a_token(client):
    assert client.get("/policies").status_code == 401


def _matches_by_definition(match, event_type, values, member=None):
    """What ``matches`` means, written plainly (the engine's version takes shortcuts)."""
    if event_type != match.event:
        return False
    for key, wanted in match.where.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if MEMBER in options:
            if member is ANY_MEMBER:
                continue
            if member is None:
                return False
            options = [member if o == MEMBER else o for o in options]
        actual = values.get(key)
        found = actual if isinstance(actual, (list, tuple)) else [actual]
        if not any(_same(v, o) for v in found for o in options):
            return False
    return True


def test_an_event_match_means_the_same_whatever_the_shape_of_its_values():
    """Scalars, lists, ``$member``, booleans, a member as text or as a UUID: the engine's
    ``matches`` (used for every clock at every event) answers as its definition does."""
    child, other = UUID(int=7), UUID(int=9)
    wheres = [{}, {"outcome": "agreed"}, {"outcome": ["agreed", "declined"]}, {"urgent": True},
              {"urgent": False}, {"about": MEMBER}, {"about": [MEMBER, str(other)]},
              {"member_id": str(child)}, {"member_id": child.hex}, {"outcome": "agreed", "about": MEMBER},
              {"count": 1}, {"outcome": None}]
    actuals = [None, "agreed", "declined", "other", True, False, 1, 0, child, other, str(child), child.hex,
               [child], [other], [child, other], [], ("agreed",), ["declined", "x"]]
    members = [None, ANY_MEMBER, child, other]
    checked = 0
    for where, actual, member, event in product(wheres, actuals, members, ("PlanAgreed", "MeetingHeld")):
        match = SimpleNamespace(event="PlanAgreed", where=where)
        for key in ("outcome", "urgent", "about", "member_id", "count"):
            values = {key: actual}
            assert matches(match, event, values, member) == _matches_by_definition(match, event, values, member), \
                (where, values, member, event)
            checked += 1
    assert checked > 5_000
