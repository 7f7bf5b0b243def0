"""Render the policy packs as Markdown tables a council manager can check against their
own procedure (``docs/policies.md``, written by ``ledger policies render``).

Generated, never edited by hand: a test fails when the file and the packs disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.policies.schema import EventMatch, Pack, Rule, Source, Term

UNITS = {"working_days": "working day", "calendar_days": "calendar day", "weeks": "week",
         "months": "month", "hours": "hour"}
CATEGORY_ORDER = (
    "triage", "allocation", "contact", "consent", "assessment", "plan", "meeting", "visit",
    "review", "case_summary", "chronology", "recording", "supervision", "oversight",
    "step_up_down", "transfer", "closure", "follow_up",
)
HEADER = """# Policy packs

Generated from `ledger/policies/*.toml` by `ledger policies render`: do not edit by hand.
Each table row is one rule of a pack with the seed lines it comes from (`L617` is line
617 of the pack's seed file). Counting follows ADR 0007: "N working days after X" counts
X's own day as day 0 and skips weekends, England-and-Wales bank holidays and the pack's
closure days; a clock stopped after its due date is "met late".
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _lines(source: Source | None) -> str:
    return "" if source is None else "L" + ", L".join(map(str, source.lines))


def _table(head: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(head)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _duration(rule: Rule) -> str:
    if rule.duration is None or rule.unit is None:
        return ""
    unit = UNITS[rule.unit] + ("" if rule.duration == 1 else "s")
    text = f"{rule.duration} {unit}"
    return f"every {text}" if rule.kind == "recurring" else f"within {text}"


def _matches(matches: Iterable[EventMatch]) -> str:
    return " or ".join(m.describe() for m in matches)


def _applies(rule: Rule, pack: Pack) -> str:
    names = {t.id: t.name for t in pack.pathways}
    parts = [", ".join(names[p] for p in rule.pathways) if rule.pathways else "all pathways"]
    if rule.per == "child":
        age = ""
        if rule.age is not None and rule.age.max_years is not None:
            age = f" under {rule.age.max_years}"
        if rule.age is not None and rule.age.min_years is not None:
            age += f" aged {rule.age.min_years} and over"
        parts.append(f"each child{age}")
    if rule.after_closure:
        parts.append("after closure")
    if rule.repeat == "each":
        parts.append("every occurrence")
    return "; ".join(parts)


def _extension(rule: Rule, pack: Pack) -> str:
    bits = []
    if rule.extension is not None:
        unit = UNITS[rule.unit or "working_days"] + "s"
        bits.append(f"{' or '.join(rule.extension.roles)} may extend to at most "
                    f"{rule.extension.max_total} {unit} ({_lines(rule.extension.source) or 'rule source'})")
    pause = pack.pause_for(rule)
    if pause is not None:
        bits.append(f"paused from {pause.start.describe()} to {pause.stop.describe()}")
    if rule.until:
        bits.append(f"ends unmet at {_matches(rule.until)}")
    return "; ".join(bits)


def _vocabulary(title: str, terms: list[Term]) -> list[str]:
    if not terms:
        return []
    return [f"#### {title}", "", *_table(["id", "name", "source"], ((t.id, t.name, _lines(t.source)) for t in terms))]


def render_pack(pack: Pack) -> list[str]:
    out = [f"## {pack.council}: {pack.title}", "",
           f"Pack `{pack.id}`, version {pack.version}, effective from {pack.effective_from:%d %B %Y}; "
           f"seed `{pack.seed}`.", ""]
    if pack.summary:
        out += [pack.summary, ""]
    out += ["### Pathways, roles and authority", ""]
    out += _table(["pathway", "name", "source"], ((t.id, t.name, _lines(t.source)) for t in pack.pathways))
    if pack.role_titles:
        out += _table(["council role title", "ledger role", "source"],
                      ((r.title, r.role, _lines(r.source)) for r in pack.role_titles))
    out += _table(["power", "ledger roles", "source", "reading"], (
        (name, ", ".join(power.roles), _lines(power.source), power.reading)
        for name, power in (("authorise (assessments, plans)", pack.authority.authorise),
                            ("extend a deadline", pack.authority.extend),
                            ("authorise closure", pack.authority.close),
                            ("triage and allocate to the team's tray", pack.authority.triage),
                            ("step up or step down", pack.authority.step),
                            ("transfer to another team", pack.authority.transfer),
                            ("accept a transfer in", pack.authority.accept_transfer))))
    facts = []
    if pack.caseload is not None:
        cap = " or ".join(filter(None, [
            f"{pack.caseload.max_families} families" if pack.caseload.max_families else "",
            f"{pack.caseload.max_children} children" if pack.caseload.max_children else ""]))
        facts.append(("caseload cap per practitioner", cap or "none", _lines(pack.caseload.source),
                      pack.caseload.reading))
    if pack.retention is not None:
        keep = " and ".join(filter(None, [
            f"{pack.retention.years_after_closure} years after closure" if pack.retention.years_after_closure else "",
            f"until the youngest child is {pack.retention.until_youngest_child_age}"
            if pack.retention.until_youngest_child_age else ""]))
        facts.append(("retention", keep or "not stated", _lines(pack.retention.source), pack.retention.reading))
    if pack.pause is not None:
        facts.append(("clocks pause", f"from {pack.pause.start.describe()} to {pack.pause.stop.describe()}",
                      _lines(pack.pause.source), pack.pause.reading))
    if pack.closure_days:
        facts.append(("council closure days", ", ".join(f"{d:%d %b %Y}" for d in pack.closure_days), "", ""))
    if facts:
        out += _table(["", "", "source", "reading"], facts)
    vocab = (_vocabulary("Priorities", pack.priorities) + _vocabulary("Triage responses", pack.triage_responses)
             + _vocabulary("Assessment kinds", list(pack.assessment_kinds)) + _vocabulary("Documents", pack.documents))
    if vocab:
        out += ["### Vocabulary", "", *vocab]

    timed = [r for r in pack.rules if r.timed]
    timed.sort(key=lambda r: CATEGORY_ORDER.index(r.category))
    if timed:
        out += ["### Timescales", ""]
        out += _table(
            ["rule", "what", "applies to", "clock starts", "clock stops", "duration", "extension, pause, end",
             "source"],
            ((f"`{r.id}`", r.title, _applies(r, pack), _matches(r.start), _matches(r.stop), _duration(r),
              _extension(r, pack), _lines(r.source)) for r in timed))
    ordering = [r for r in pack.rules if r.kind == "ordering"]
    if ordering:
        out += ["### Ordering rules", "",
                "A **flag** rule is good practice: the later event is recorded and the breach shown in the deadlines, "
                "oversight and chronology. A **refuse** rule is a sign-off that must come first: the later event is "
                "refused until the earlier one is recorded (and stated to have happened before it).", ""]
        out += _table(["rule", "what", "a breach", "should be recorded first", "before", "same", "source"], (
            (f"`{r.id}`", r.title, f"**{r.on_breach}**", r.before.describe() if r.before else "",
             r.after.describe() if r.after else "", ", ".join(r.correlate), _lines(r.source)) for r in ordering))
    recording = [r for r in pack.rules if r.kind == "recording"]
    if recording:
        out += ["### Recording timeliness (later entries are flagged)", ""]
        out += _table(["rule", "what", "events", "recorded within", "source"], (
            (f"`{r.id}`", r.title, ", ".join(r.applies_to) or "every event", _duration(r).removeprefix("within "),
             _lines(r.source)) for r in recording))
    returns = pack.returns
    out += ["### Data returns (Ofsted Annex A List 2, SSD early help episodes)", ""]
    if returns.organisation:
        named = returns.organisation
    elif returns.successors:
        since = f" on {returns.reorganised_on:%d/%m/%Y}" if returns.reorganised_on else ""
        named = (f"the organisation the deployment configures (`LEDGER_ORGANISATION_NAMES`): {pack.council} "
                 f"was reorganised{since} into {' and '.join(returns.successors)}")
    else:
        named = pack.council
    out += [f"Organisation named: {_cell(named)}." + (f" Source: {_lines(returns.source)}." if returns.source else ""),
            ""]
    if returns.reading:
        out += [_cell(returns.reading), ""]
    out += _table(["closure reason", "SSD end reason (`earl_episode_end_reason`)"],
                  ((f"`{reason}`", end) for reason, end in returns.ssd_end_reasons.items()))
    readings = [(f"`{r.id}`", r.reading) for r in pack.rules if r.reading]
    if readings or pack.readings:
        out += ["### Readings of ambiguous or conflicting text", ""]
        out += _table(["about", "reading chosen, and why"], [*(("the pack", r) for r in pack.readings), *readings])
    if pack.not_encoded:
        out += ["### Not encoded as rules", ""]
        out += _table(["what the seed says", "source", "why not a rule"],
                      ((n.statement, _lines(n.source), n.reason) for n in pack.not_encoded))
    return out


def render_markdown(packs: dict[str, Pack]) -> str:
    out = [HEADER]
    out += _table(["pack", "council", "version", "effective from", "rules"], (
        (f"[`{p.id}`](#{_anchor(p)})", p.council, p.version, f"{p.effective_from:%d %B %Y}", len(p.rules))
        for p in packs.values()))
    for pack in packs.values():
        out += render_pack(pack)
    return "\n".join(out).rstrip() + "\n"


def _anchor(pack: Pack) -> str:
    heading = f"{pack.council} {pack.title}".lower()
    kept = "".join(c for c in heading if c.isalnum() or c in " -")
    return kept.replace(" ", "-")
