"""``ledger schemas write``: the feed's published JSON Schemas written to a folder, by
default the snapshot the compatibility test holds them to (tests/schemas/, ADR 0034).

It compares what the event classes give now with what the folder holds and refuses a
change that breaks a published schema unless the type's ``class_version`` was raised
(with its upcaster), so that refreshing the snapshot is a deliberate act."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from queries.schemas import compare, published

schemas = typer.Typer(help="The feed's published JSON Schemas (/schemas).", no_args_is_help=True)
SNAPSHOT = Path("tests/schemas")


def read_folder(folder: Path) -> dict[str, dict[str, Any]]:
    """The schemas a folder holds, by name (``<name>.json``)."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@schemas.command("write")
def write(
    to: Annotated[Path, typer.Option(help="Folder to write one <type>.json to, and envelope.json.")] = SNAPSHOT,
    check: Annotated[bool, typer.Option(
        "--check", help="Only report whether the folder is up to date (exit 1 if not).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Write even a breaking change (only once every consumer has been told).")] = False,
) -> None:
    """Write the schemas the event classes give now, saying what changed; a change that
    breaks a published schema is refused (exit 1) unless its type's version was raised."""
    current = published()
    held = read_folder(to) if to.is_dir() else {}
    changes = compare(held, current) if held else []
    for change in changes:
        typer.secho(f"{'breaking' if change.breaking else 'changed'}: {change}", err=True,
                    fg=typer.colors.RED if change.breaking else None)
    if check:
        if changes or not held:
            typer.echo(f"{to} is out of date: run `ledger schemas write`", err=True)
            raise typer.Exit(code=1)
        typer.echo(f"{to} is up to date")
        return
    if any(c.breaking for c in changes) and not force:
        typer.echo("nothing written: raise the type's class_version and add its upcaster (ADR 0034)", err=True)
        raise typer.Exit(code=1)
    to.mkdir(parents=True, exist_ok=True)
    for stale in held.keys() - current.keys():
        (to / f"{stale}.json").unlink()
    for name, schema in current.items():
        (to / f"{name}.json").write_text(schema_text(schema), encoding="utf-8")
    typer.echo(f"wrote {len(current)} schemas to {to}")
