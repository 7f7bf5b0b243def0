"""The ``ledger`` command: an entry point beside the HTTP API (``api/``), over the same
application core and query layer (``queries/``)."""
