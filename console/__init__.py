"""The review console: server-rendered pages (Jinja2, plain CSS, no build step) for the
people who read the ledger, served by the same app as the HTTP API.

It is an entry point beside ``api``, built on it: its pages are authorised by the API's
access table (``api/access.py``), write the same access-log rows, and call the same query
functions (``queries/``). ``console.main:app`` is what ``ledger serve`` runs: the API
with the console on it.
"""
