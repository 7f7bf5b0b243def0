"""ASGI entry point for uvicorn: ``console.main:app``, the API with the console on it."""

from console.app import create_app

app = create_app()
