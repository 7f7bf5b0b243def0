"""Synthetic demo data (``ledger demo``, ``ledger serve --demo``): families walked through
their councils' pathways, one module per council's story, recorded through the ledger's
public command path. An entry point's helper, beside ``cli/``: nothing in the core imports
it.

- ``generator.py``: every story on one timeline, recorded by a ``Ledger`` of its own;
- ``story.py``: one family's life with the service as a discrete-event simulation;
- ``durham.py`` ... ``southampton.py``: each council's pathway as a story;
- ``staff.py``, ``people.py``: the synthetic teams, staff and people.
"""
from demo.generator import PACK_ORDER, DemoAlreadyLoaded, DemoRefused, generate

__all__ = ["PACK_ORDER", "DemoAlreadyLoaded", "DemoRefused", "generate"]
