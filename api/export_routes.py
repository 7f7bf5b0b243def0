"""Routes for exports that leave the ledger: court, practice and review chronologies,
Ofsted Annex A List 2, the Standard Safeguarding Dataset's early help episodes."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register the export routes."""
