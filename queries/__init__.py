"""The read use-cases of the ledger, one plain function each (cosmicpython's ``views.py``).

Every read the HTTP API, the command line and (next) a web console answer is a function
here: it takes the ledger (``ledger.application.Ledger``) and, for the read models, its
projector (``projections.projector.Projector``) and plain arguments, and returns typed
data (``TypedDict``s, which the API also declares as its response models) or an
``Export`` of bytes. Nothing here knows HTTP: a refusal is a domain error
(``aggregates.errors``), which ``api/problems.py`` maps to problem+json and the CLI to a
message and an exit code.

Layers (``tests/test_layers.py`` enforces them, ADR 0025): ``api``, ``cli`` and ``demo``
import ``queries``; ``queries`` imports ``replay``, ``projections``, ``ledger`` and
``aggregates``; nothing below imports ``queries``.
"""
