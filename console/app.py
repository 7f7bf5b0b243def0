"""The served app: the HTTP API (``api.app.create_app``) with the console's pages on it."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app as create_api
from ledger.application import Ledger
from ledger.settings import Settings


def create_app(ledger: Ledger | None = None, settings: Settings | None = None) -> FastAPI:
    """The API and the console, one app: one ledger, one projector, one access table."""
    app = create_api(ledger, settings)
    return app
