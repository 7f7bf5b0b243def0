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

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_KEY_BYTES = 32


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
    database_password: str | None = Field(
        default=None, repr=False,
        description="PostgreSQL password, kept out of the URL (and so out of `ps`, logs and what is printed).")
    database_password_file: Path | None = Field(
        default=None, description="A file holding the PostgreSQL password (e.g. a mounted secret).")
    jwt_secret: str | None = Field(
        default=None, repr=False,
        description="HS256 key for bearer tokens, at least 32 bytes; generated into data_dir on first use if unset.",
    )
    index_key: str | None = Field(
        default=None, repr=False,
        description="Key of the blind index that finds people by name or date of birth without storing "
        "either (at least 32 bytes); generated into data_dir on first use if unset. Keep it with the master keys.")
    chain_key: str | None = Field(
        default=None, repr=False,
        description="Key of the hash chain (HMAC) over every event, the access log and the legal holds (at "
        "least 32 bytes); generated into data_dir on first use if unset. Keep it outside the database.")
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
        "generated into data_dir/master-keys on first use if unset (set it in production; every process must "
        "share it).",
    )
    projections: Literal["inline", "worker"] = Field(
        default="inline",
        description="inline: each process brings the read models up to date right after it "
        "records a command; worker: `ledger project` does (PostgreSQL with several API processes).",
    )
    console_demo_sign_in: bool = Field(
        default=False,
        description="Let the review console's sign-in page sign anyone in as any demo user, role and team "
        "(demo only: `ledger serve --demo` turns it on; never in a council's deployment).")
    console_session_minutes: int = Field(
        default=30, ge=1, le=12 * 60,
        description="How long a console session's token lasts without a page being opened (each page "
        "opened after half of it renews it).")
    organisation_names: dict[str, str] = Field(
        default_factory=dict,
        description="The organisation the data returns (Annex A List 2, the SSD's early help episodes) name "
        "for a pack's families, by pack id, as JSON: e.g. {\"northamptonshire-0-19\": \"West Northamptonshire "
        "Council\"}. Set it for a pack whose council has since been reorganised (the pack lists its successors); "
        "a pack not named here is named as it says (its council).")
    policy_dir: Path | None = Field(
        default=None,
        description="Folder of policy pack files to load instead of the shipped ones "
        "(ledger/policies/); a malformed pack stops start-up.",
    )

    @field_validator("jwt_secret", "index_key", "chain_key")
    @classmethod
    def _long_enough(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and len(value.encode("utf-8")) < MIN_KEY_BYTES:
            name = f"LEDGER_{(info.field_name or '').upper()}"
            raise ValueError(f"{name} is {len(value.encode('utf-8'))} bytes; it must be at least {MIN_KEY_BYTES} "
                             "(a short key can be guessed): e.g. `python3 -c 'import secrets; "
                             "print(secrets.token_urlsafe(48))'`")
        return value

    def password(self) -> str | None:
        """The PostgreSQL password: the URL's, else the setting's, else the file's."""
        from urllib.parse import unquote, urlparse

        if self.database_url:
            found = urlparse(self.database_url).password
            if found:
                return unquote(found)
        if self.database_password:
            return self.database_password
        if self.database_password_file is not None:
            return self.database_password_file.read_text(encoding="utf-8").strip()
        return None

    def private_dir(self) -> Path:
        """The data folder, made private (700) when it is made; what the ledger writes
        in it is private too (600)."""
        if not self.data_dir.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
        return self.data_dir

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
        return create_once(self.private_dir() / "jwt-secret", lambda: secrets.token_urlsafe(48))

    def blind_index_key(self) -> bytes:
        """The blind index's key: the setting, else a key kept in ``data_dir/index-key``."""
        text = self.index_key or create_once(self.private_dir() / "index-key", lambda: secrets.token_urlsafe(48))
        return text.encode("utf-8")

    def hash_chain_key(self) -> bytes:
        """The hash chain's key: the setting, else a key kept in ``data_dir/chain-key``."""
        text = self.chain_key or create_once(self.private_dir() / "chain-key", lambda: secrets.token_urlsafe(48))
        return text.encode("utf-8")


def create_once(path: Path, make: Callable[[], str]) -> str:
    """The text of a private file (mode 600), made with ``make()`` if there is none yet.
    Processes starting together may all find it missing: each writes its own to a file of
    its own and links it into place, which only the first does; the others read that
    one. No process reads a half-written file or keeps a text another has replaced."""
    if not path.exists():
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
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
