"""Settings, read once from the environment (prefix ``LEDGER_``) by pydantic-settings.

Each setting is documented in the README's settings table.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
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
    oidc_issuer: str | None = Field(
        default=None,
        description="The council's OpenID Connect provider (its issuer URL, e.g. "
        "https://login.microsoftonline.com/<tenant-id>/v2.0): bearer tokens are then its RS256/ES256 tokens, "
        "checked against the keys its discovery document publishes, and the console signs in through it "
        "(docs/security.md).")
    oidc_audience: str | None = Field(
        default=None,
        description="The audience (`aud`) the provider's access tokens for the API carry: the ledger's "
        "application (client) id or its application ID URI. Required with oidc_issuer.")
    oidc_jwks_url: str | None = Field(
        default=None, description="The provider's keys (JWKS) URL, if not the discovery document's `jwks_uri`.")
    oidc_client_id: str | None = Field(
        default=None,
        description="The console's client id at the provider (the audience of its ID tokens); default "
        "oidc_audience.")
    oidc_client_secret: str | None = Field(
        default=None, repr=False,
        description="The console's client secret, for a provider that registers it as a confidential client "
        "(sent to the token endpoint with the code and the PKCE verifier); unset for a public client.")
    oidc_scopes: str = Field(default="openid profile", description="The scopes the console asks the provider for.")
    oidc_user_claim: str = Field(
        default="sub", description="The claim naming the person as the ledger records them (Entra ID: `oid` is the "
        "same in every application of the tenant; `sub` differs per application).")
    oidc_role_claim: str = Field(
        default="roles",
        description="The claim listing the person's roles: Entra ID app roles arrive as `roles`; a `groups` claim "
        "or a custom claim may be used instead.")
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="The role claim's values as the ledger's roles, as JSON: e.g. {\"Ledger.Manager\": "
        "\"manager\"}; a value that is itself a ledger role name (`manager`) maps to that role unless listed.")
    oidc_team_claim: str = Field(
        default="team", description="The claim naming the person's team (a custom claim, or `groups`).")
    oidc_team_map: dict[str, str] = Field(
        default_factory=dict,
        description="The team claim's values as the ledger's team ids, as JSON: e.g. {\"<group object id>\": "
        "\"north\"}; a value not listed is taken as the team id itself.")
    oidc_name_claim: str = Field(default="name", description="The claim holding the person's name.")
    oidc_job_title_claim: str = Field(
        default="jobTitle", description="The claim holding the person's job title (ADR 0030).")
    oidc_leeway_seconds: int = Field(
        default=60, ge=0, le=300,
        description="Clock skew allowed when checking exp, nbf and iat of a provider's token.")
    oidc_key_refresh_seconds: int = Field(
        default=60, ge=1,
        description="The least time between two fetches of the provider's keys on an unknown key id (`kid`): a "
        "flood of tokens naming made-up keys cannot make the ledger flood the provider.")
    oidc_allow_local_tokens: bool = Field(
        default=False,
        description="With oidc_issuer set, still accept HS256 tokens from `ledger token` and the console's demo "
        "sign-in (tests and a migration only; never in a council's deployment).")
    organisation_names: dict[str, str] = Field(
        default_factory=dict,
        description="The organisation the data returns (Annex A List 2, the SSD's early help episodes) name "
        "for a pack's families, by pack id, as JSON: e.g. {\"northamptonshire-0-19\": \"West Northamptonshire "
        "Council\"}. Set it for a pack whose council has since been reorganised (the pack lists its successors); "
        "a pack not named here is named as it says (its council).")
    deployment_uri: str | None = Field(
        default=None,
        description="This deployment's name in the feed's CloudEvents (their `source`), a URI the same in every "
        "process: e.g. https://ledger.example-council.gov.uk or urn:early-help-ledger:example-council. Unset: "
        "urn:early-help-ledger:<16 hex digits> worked out from the index key (stable while that key is). Set it "
        "before consumers store events: they tell events apart by source and id.")
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

    @property
    def oidc(self) -> bool:
        """Whether staff sign in through an OpenID Connect provider."""
        return bool(self.oidc_issuer)

    @property
    def local_tokens(self) -> bool:
        """Whether HS256 tokens of the local key (``ledger token``, demo sign-in) are taken."""
        return not self.oidc or self.oidc_allow_local_tokens

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        from aggregates.vocabulary import ROLES

        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("LEDGER_OIDC_ISSUER needs LEDGER_OIDC_AUDIENCE (the `aud` of the provider's tokens for "
                             "the ledger: its application id or application ID URI)")
        wrong = sorted(v for v in self.oidc_role_map.values() if v not in ROLES)
        if wrong:
            raise ValueError(f"LEDGER_OIDC_ROLE_MAP maps to {', '.join(wrong)}: each value must be one of "
                             f"{', '.join(ROLES)}")
        return self

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

    def deployment(self) -> str:
        """The deployment's URI (CloudEvents ``source``): the setting, else one worked out
        from the index key, so every process of the deployment says the same."""
        if self.deployment_uri:
            return self.deployment_uri
        digest = hmac.new(self.blind_index_key(), b"early-help-ledger deployment", hashlib.sha256).hexdigest()
        return f"urn:early-help-ledger:{digest[:16]}"

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
