"""Load and validate the policy packs shipped in this folder.

A malformed pack stops start-up with one message naming the file, the rule (by index
and id) and what is wrong, so a council analyst editing a pack sees exactly where.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ledger.policies.schema import Pack

PACKS_DIR = Path(__file__).parent


class PackError(ValueError):
    """A pack file could not be loaded; the message names file, rule and problem."""


def _where(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into 'rule 3 (id=fh-consent) > stop > 0 > event'."""
    parts: list[str] = []
    node: Any = raw
    for i, key in enumerate(loc):
        if isinstance(node, dict):
            node = node.get(key) if isinstance(key, str) else None
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            if i > 0 and loc[i - 1] == "rules" and isinstance(node, dict):
                parts[-1] = f"rule {key} (id={node.get('id', '?')})"
                continue
        else:
            node = None
        parts.append(str(key))
    return " > ".join(parts) or "(top level)"


def _problem(raw: dict[str, Any], err: Any) -> str:
    message = str(err["msg"]).removeprefix("Value error, ")
    loc = tuple(err["loc"])
    return f"{_where(raw, loc)}: {message}" if loc else message


def load_pack(path: Path) -> Pack:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PackError(f"{path.name}: not valid TOML: {e}") from None
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(_problem(raw, err) for err in e.errors())
        raise PackError(f"{path.name}: {problems}") from None
    if pack.id != path.stem:
        raise PackError(f"{path.name}: pack id {pack.id!r} must match the file name")
    return pack


def load_packs(directory: Path = PACKS_DIR) -> dict[str, Pack]:
    packs = {}
    for path in sorted(directory.glob("*.toml")):
        pack = load_pack(path)
        packs[pack.id] = pack
    if not packs:
        raise PackError(f"no policy packs found in {directory}")
    return packs


@lru_cache(maxsize=1)
def shipped_packs() -> dict[str, Pack]:
    """The packs in this folder, loaded once per process."""
    return load_packs(PACKS_DIR)
