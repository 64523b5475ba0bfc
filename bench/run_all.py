"""Run every benchmark in this folder, one after another, each in a process of its own (`tox -e bench`).

The scripts below run with the arguments given here (sized so that all of them together take well under 5
minutes on 2 cores); any other script that appears in the folder runs with its own defaults; a script that
is not there is skipped. Each run is cut off after `--timeout` seconds. The machine is printed first, so the
output can be pasted into bench/README.md as it is.

    python bench/run_all.py [--timeout 240] [--only engine,ws_push]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: known scripts, in the order they run, with the arguments used here
KNOWN: dict[str, list[str]] = {
    "engine.py": ["--commands", "100000"],
    "ws_push.py": ["--seconds", "2", "--rounds", "3"],
    "book.py": ["--messages", "50000", "--repeat", "3"],
    "latency.py": ["--quick"],
    "dashboard_cost.py": [],
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds one script may run")
    parser.add_argument("--only", default="", help="comma-separated script names (without .py) to run")
    args = parser.parse_args()
    present = sorted(p.name for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    scripts = [name for name in KNOWN if name in present] + [name for name in present if name not in KNOWN]
    if args.only:
        wanted = {f"{name.strip()}.py" for name in args.only.split(",")}
        scripts = [name for name in scripts if name in wanted]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; load average {load:.2f} at start", flush=True)
    started = time.perf_counter()
    failed = []
    for name in scripts:
        command = [sys.executable, str(HERE / name), *KNOWN.get(name, [])]
        print(f"\n$ python bench/{name} {' '.join(KNOWN.get(name, []))}".rstrip(), flush=True)
        began = time.perf_counter()
        try:
            code = subprocess.run(command, cwd=HERE.parent, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"!! {name} cut off after {args.timeout:g} s")
        print(f"({name}: {time.perf_counter() - began:.0f} s)", flush=True)
        if code != 0:
            failed.append(name)
    outcome = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"\nall benchmarks: {time.perf_counter() - started:.0f} s{outcome}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
