"""Run every benchmark module bench/bench_*.py (``make bench``); each writes its own results.

Benchmarks measure against a baseline taken in the same run on the same machine, and report into
docs/benchmarks.md. They are never part of the test suite.
"""

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    if not wanted:
        print("No benchmark modules (bench/bench_*.py) match.", file=sys.stderr)
        return 1
    for name in wanted:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
