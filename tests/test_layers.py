"""The layers, read from the code: every import of every module (at its top, inside a
function, under ``TYPE_CHECKING``) runs down the layers, never up (ADR 0025).

Top to bottom:

    console          the review console: pages on the HTTP API's app (its auth and access table)
    api, cli, demo   entry points: the HTTP API, the ``ledger`` command, the demo loader
    queries          the read use-cases, one plain function each (the API, the CLI, a console)
    replay           rebuilds, time travel and the read models compared with a rebuild
    projections      the read models and the projector that keeps them; beside them,
    documents        the chronology as a document (one HTML template, PDF, Word) from their rows
    ledger           the application (commands), settings, storage, calendar, policy packs,
                     the deadline engine, tokens: what the read models are built on
    aggregates       the Family aggregate, its events, its vocabulary: imports nothing of ours

A module imports its own package and the layers below it. Entry points do not import one
another, except ``cli`` running the demo loader (``ledger demo``, ``ledger serve --demo``);
``cli`` serves the API and the console by their import path (``console.main:app``)
without importing them. No route
module imports another route module (what they share is in ``api/``, what they read in
``queries/``).

``ledger`` sits below ``projections`` because that is what the code needs: the read models
count with ``ledger.calendar``, run the deadline engine (``ledger.deadlines``), read the
packs (``ledger.policies``) and write through ``ledger.sql``, while the application
(``ledger.application``) knows no read model: the API attaches the projector to it as a
listener. An import of ``projections``, ``replay`` or ``queries`` from ``ledger`` is an
arrow upward and fails here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"console"}),
    frozenset({"api", "cli", "demo"}),
    frozenset({"queries"}),
    frozenset({"replay"}),
    frozenset({"projections", "documents"}),
    frozenset({"ledger"}),
    frozenset({"aggregates"}),
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
ENTRY_POINTS_MAY_IMPORT = {("cli", "demo")}
"""Entry point -> entry point imports that are allowed: ``ledger demo`` runs the demo loader."""

EXCEPTIONS: dict[tuple[str, str], str] = {}
"""(module, imported module) -> why an upward arrow is tolerated for now. Empty: keep it so;
an entry here is a debt to pay, named."""


@dataclass(frozen=True)
class Arrow:
    module: str
    imported: str
    line: int

    @property
    def source(self) -> str:
        return self.module.split(".")[0]

    @property
    def target(self) -> str:
        return self.imported.split(".")[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str | None = None) -> list[Arrow]:
    """Every import in the file, wherever it is (module level, functions, TYPE_CHECKING),
    relative ones resolved against the module's package."""
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Arrow(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(Arrow(module, target, node.lineno))
            # ``from api import routes``: the names may be modules of the package too
            found += [Arrow(module, f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def our_modules() -> list[Path]:
    return sorted(p for package in RANK for p in (ROOT / package).rglob("*.py"))


def all_arrows() -> list[Arrow]:
    return [a for path in our_modules() for a in imports(path) if a.target in RANK]


def upward(arrow: Arrow) -> str | None:
    """Why an import breaks the layers, or None if it does not."""
    source, target = arrow.source, arrow.target
    if source == target or target not in RANK:
        return None
    if RANK[target] < RANK[source]:
        return f"{target} is above {source}"
    if RANK[target] == RANK[source] == RANK["api"] and (source, target) not in ENTRY_POINTS_MAY_IMPORT:
        return f"{source} and {target} are both entry points"
    return None


def test_the_layers_cover_every_package_of_ours() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(RANK), f"packages in no layer: {sorted(packages - set(RANK))}"


def test_every_import_runs_down_the_layers() -> None:
    broken = [f"{a.module}:{a.line} imports {a.imported}: {why}" for a in all_arrows()
              if (why := upward(a)) is not None and (a.module, a.imported) not in EXCEPTIONS]
    assert not broken, "imports that run up the layers (ADR 0025):\n" + "\n".join(sorted(set(broken)))


def test_the_exceptions_are_still_needed() -> None:
    seen = {(a.module, a.imported) for a in all_arrows()}
    stale = sorted(set(EXCEPTIONS) - seen)
    assert not stale, f"exceptions no longer needed, remove them: {stale}"


def test_no_route_module_imports_another() -> None:
    routes = {module_name(p) for p in (ROOT / "api" / "routes").glob("*.py") if p.name != "__init__.py"}
    crossing = [f"{a.module}:{a.line} imports {a.imported}" for path in (ROOT / "api" / "routes").glob("*.py")
                if path.name != "__init__.py" for a in imports(path)
                if any(a.imported == r or a.imported.startswith(r + ".") for r in routes - {a.module})]
    assert not crossing, "route modules importing one another:\n" + "\n".join(crossing)


def test_the_cli_does_not_import_the_api() -> None:
    """The CLI is an entry point beside the API: it serves it by import path only."""
    found = [f"{a.module}:{a.line} imports {a.imported}" for p in (ROOT / "cli").rglob("*.py")
             for a in imports(p) if a.target == "api"]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("arrow, broken", [
    (Arrow("ledger.application", "projections.projector", 1), True),
    (Arrow("aggregates.family", "ledger.calendar", 1), True),
    (Arrow("queries.chronology", "api.problems", 1), True),
    (Arrow("api.routes.chronology", "cli.main", 1), True),
    (Arrow("demo.story", "cli.common", 1), True),
    (Arrow("cli.main", "demo.generator", 1), False),
    (Arrow("api.routes.chronology", "queries.chronology", 1), False),
    (Arrow("projections.deadlines", "ledger.deadlines", 1), False),
    (Arrow("replay.time_travel", "projections.chronology", 1), False),
], ids=lambda v: str(v) if isinstance(v, bool) else f"{v.module} -> {v.imported}")
def test_the_check_itself(arrow: Arrow, broken: bool) -> None:
    assert (upward(arrow) is not None) is broken


def test_imports_inside_functions_and_type_checking_blocks_are_read(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from replay import rebuild\n"
                      "def f():\n    from projections import chronology\n    import queries.reading\n"
                      "    from . import sibling\n", encoding="utf-8")
    found = {a.imported: upward(a) for a in imports(source, "ledger.example")}
    assert found["replay.rebuild"] and found["projections.chronology"] and found["queries.reading"]
    assert "ledger.sibling" in found and found["ledger.sibling"] is None
