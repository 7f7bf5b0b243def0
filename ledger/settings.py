"""Settings, read once from the environment (prefix ``LEDGER_``) by pydantic-settings.

Each setting is documented in the README's settings table.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    data_dir: Path = Field(
        default=Path("ledger-data"),
        description="Folder for the embedded SQLite database and the local signing key.",
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://user@host:port/dbname selects PostgreSQL; "
        "unset (or sqlite:///path) uses SQLite in data_dir.",
    )
    database_schema: str = Field(default="", description="PostgreSQL schema for the ledger's tables.")
    jwt_secret: str | None = Field(
        default=None,
        description="HS256 key for bearer tokens; generated into data_dir on first use if unset.",
    )
    clock_skew_seconds: int = Field(
        default=300, ge=0, description="How far in the future occurred_at may be (clock skew)."
    )
    snapshot_interval: int = Field(default=100, gt=0, description="Take a snapshot every N events.")
    family_cache: int = Field(
        default=1000, ge=0,
        description="Families kept decoded in each process (the eventsourcing library's aggregate cache, "
        "brought up to date from the store on every read); 0 turns it off.",
    )
    pool_size: int = Field(default=10, gt=0, description="PostgreSQL connections per process.")
    database_timeout: int = Field(
        default=3, gt=0, le=60,
        description="Seconds a request waits for a PostgreSQL connection before it is answered "
        "503 (the database is down or every connection is busy).",
    )
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="Largest accepted request body.")
    master_keys: str | None = Field(
        default=None,
        description="Master keyring that wraps each family's key: 'id:base64-32-bytes,...', newest first; "
        "generated into data_dir/master-keys on first use if unset (set it in production; every process must share it).",
    )
    projections: Literal["inline", "worker"] = Field(
        default="inline",
        description="inline: each process brings the read models up to date right after it "
        "records a command; worker: `ledger project` does (PostgreSQL with several API processes).",
    )
    policy_dir: Path | None = Field(
        default=None,
        description="Folder of policy pack files to load instead of the shipped ones "
        "(ledger/policies/); a malformed pack stops start-up.",
    )

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url) and self.database_url.startswith(("postgresql://", "postgres://"))  # type: ignore[union-attr]

    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "ledger.sqlite3"

    def signing_key(self) -> str:
        """The JWT key: the setting, else a key kept in ``data_dir/jwt-secret``."""
        if self.jwt_secret:
            return self.jwt_secret
        return create_once(self.data_dir / "jwt-secret", lambda: secrets.token_urlsafe(48))


def create_once(path: Path, make: Callable[[], str]) -> str:
    """The text of a private file (mode 600), made with ``make()`` if there is none yet.
    Processes starting together may all find it missing: each writes its own to a file of
    its own and links it into place, which only the first does; the others read that
    one. No process reads a half-written file or keeps a text another has replaced."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}-",
                                         delete=False) as mine:
            mine.write(make())
        try:
            os.chmod(mine.name, 0o600)
            os.link(mine.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(mine.name)
    return path.read_text(encoding="utf-8").strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
