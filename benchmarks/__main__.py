"""``python -m benchmarks [--quick] [--database sqlite|postgres|both] [--output results.json]``

Measures append (application and HTTP), replay, queries, their growth and peak memory,
each beside a reference taken in the same run on the same database; prints one table
and writes it as JSON. ``--quick`` runs everything at a tiny scale (the test suite does);
the full run records its demo data set once into ``--cache`` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks import dataset
from benchmarks.run import run, table
from benchmarks.targets import DEFAULT_PG_ADMIN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale, seconds not minutes (the test suite's)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--output", type=Path, default=Path("benchmark-results.json"))
    parser.add_argument("--cache", type=Path, default=dataset.default_cache(),
                        help="where the full run's demo data set is recorded once (outside the repository)")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN),
                        help="an admin URL: a fresh database is created there for the run and dropped after")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console(width=200 if not sys.stdout.isatty() else None)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    result = run(quick=args.quick, databases=databases, output=args.output, cache=args.cache,
                 pg_admin=args.postgres, log=lambda line: console.print(line, style="dim", markup=False))
    console.print(table(result))
    console.print(f"written to {args.output} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
