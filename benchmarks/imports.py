"""Import and start-up cost: wall time of fresh interpreters (issue 8, item 7).

Run: ``.venv/bin/python benchmarks/imports.py [--runs 15]``

Each case runs in a new subprocess (nothing cached in the interpreter; the OS file cache is
warmed by one untimed run first) and the median of ``--runs`` wall times is reported, with the
minimum and maximum, as the machine is shared. Cases:

* ``python -c pass``: the interpreter alone (the floor every command pays);
* ``import memagents``: the public facade (target < 0.3 s);
* ``memagents --help``: the installed console script (target < 0.5 s);
* ``memagents gate --help`` and ``memagents memory --help``: one command group loaded;
* ``import memagents.graphmem``: the graph memory capability, for scale.

For the facade and ``--help`` it also lists which heavy libraries (scipy, langgraph,
langchain, chromadb, numpy, torch) ended up imported: none is the goal. Results go to
``benchmarks/results/imports.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HEAVY = ("scipy", "langgraph", "langchain", "langchain_core", "chromadb", "numpy", "torch")
TARGETS = {"import memagents": 0.3, "memagents --help": 0.5}


def _script() -> list[str]:
    """The ``memagents`` console script of this interpreter, or ``python -m memagents.cli``."""
    script = Path(sys.executable).with_name("memagents")
    return [str(script)] if script.exists() else [sys.executable, "-m", "memagents.cli"]


def cases() -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python -c pass": [py, "-c", "pass"],
        "import memagents": [py, "-c", "import memagents"],
        "memagents --help": [*_script(), "--help"],
        "memagents gate --help": [*_script(), "gate", "--help"],
        "memagents memory --help": [*_script(), "memory", "--help"],
        "import memagents.graphmem": [py, "-c", "import memagents.graphmem"],
    }


def heavy_modules(code: str) -> list[str]:
    """Heavy top-level packages in ``sys.modules`` after running ``code`` in a fresh process."""
    probe = (f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
             "print('\\n' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True, env=_env()).stdout
    loaded = set(out.rstrip().rpartition("\n")[2].split())
    return sorted(loaded & set(HEAVY))


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "100"}


def time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   cwd=ROOT, env=_env())
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per case (median reported)")
    args = ap.parse_args()

    rows: list[dict[str, Any]] = []
    for name, argv in cases().items():
        time_once(argv)  # warm the file cache
        times = [time_once(argv) for _ in range(args.runs)]
        row: dict[str, Any] = {
            "case": name, "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4), "max_s": round(max(times), 4), "runs": args.runs,
        }
        if name in TARGETS:
            row["target_s"] = TARGETS[name]
            row["meets_target"] = row["median_s"] < TARGETS[name]
        rows.append(row)
    loaded = {
        "import memagents": heavy_modules("import memagents"),
        "memagents --help": heavy_modules("from memagents.cli import main; main(['--help'])"),
    }
    out = {
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "results": rows, "heavy_modules_loaded": loaded,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "imports.json").write_text(json.dumps(out, indent=2) + "\n")

    print(f"{'case':<28} {'median':>8} {'min':>8} {'max':>8}  target")
    for r in rows:
        target = (f"< {r['target_s']:.1f} s {'ok' if r['meets_target'] else 'MISSED'}"
                  if "target_s" in r else "")
        print(f"{r['case']:<28} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['max_s']:>7.3f}s  "
              f"{target}")
    for name, mods in loaded.items():
        print(f"heavy libraries loaded by {name}: {', '.join(mods) or 'none'}")
    print(f"wrote {RESULTS / 'imports.json'}")


if __name__ == "__main__":
    main()
