"""Larger runs of the reliability suite (tests/reliability), e.g. more SIGKILLs.

    python -m bench.reliability --kills 100 --scenes 1000 [--seed 7] [--family kills]

Runs pytest on the suite with the sizes passed through the environment
(``RELIABILITY_KILLS``, ``RELIABILITY_SCENES``, ``RELIABILITY_SEED``); the suite's summary
table is printed and saved as ``bench/results/reliability.json`` as in ``make test``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from sandbox.harness import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of drains (suite: 30)")
    parser.add_argument("--scenes", type=int, default=1000, help="scenes in the kill run (suite: 300)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill points")
    parser.add_argument("--family", default=None,
                        help="only this family: kills, outages, concurrency, corruption, malformed")
    args = parser.parse_args(argv)
    env = {**os.environ, "RELIABILITY_KILLS": str(args.kills), "RELIABILITY_SCENES": str(args.scenes)}
    if args.seed is not None:
        env["RELIABILITY_SEED"] = str(args.seed)
    target = "tests/reliability" + (f"/test_{args.family}.py" if args.family else "")
    command = [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
