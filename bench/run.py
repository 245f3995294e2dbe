"""`python -m bench`: run the sections, print one plain-text table."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings

from .common import Results, render

SECTIONS = ("ceiling", "services", "api", "scale", "storage")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="short runs (3 repeats of ~0.7 s, 5,000 RMAs) for a smoke check"
    )
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, from {', '.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--backends", default="sqlite,postgresql", help="for services and scale: sqlite,postgresql")
    p.add_argument("--repeats", type=int, help="repeated runs per measurement (default 5; quick 3)")
    p.add_argument("--seconds", type=float, help="seconds per repeat (default 3; quick 0.7)")
    p.add_argument("--rmas", type=int, help="RMAs generated for the scale section (default 100000; quick 5000)")
    p.add_argument("--queries", type=int, default=300, help="queries per kind in the scale section")
    p.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients against gunicorn")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads per gunicorn worker (gthread worker, keep-alive); 0: the sync worker",
    )
    p.add_argument("--profile", choices=("services", "api-server"), help="print a cProfile of that path instead")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.seconds = args.seconds or (0.7 if args.quick else 3.0)
    args.rmas = args.rmas if args.rmas is not None else (5000 if args.quick else 100_000)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def _environment() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "engine"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        rev, dirty = "?", ""
    import SpiffWorkflow
    import sqlalchemy

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"RMA orchestrator benchmark  git {rev}{' (engine/ modified)' if dirty else ''}  "
        f"python {platform.python_version()}  SpiffWorkflow {getattr(SpiffWorkflow, '__version__', '3.2.0')}  "
        f"SQLAlchemy {sqlalchemy.__version__}  cores {os.cpu_count()}  load avg at start {load}"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    if args.profile:
        from . import profiling

        return profiling.main(args)
    print(_environment(), flush=True)
    results = Results()
    started = time.perf_counter()
    for section in SECTIONS:
        if section not in args.only:
            continue
        t0 = time.perf_counter()
        print(f"... {section}", file=sys.stderr, flush=True)
        if section == "ceiling":
            from . import ceiling

            ceiling.run(results, args.repeats, args.seconds)
        elif section == "services":
            from . import services

            services.run(results, args.repeats, args.seconds, args.backends)
        elif section == "api":
            from . import api

            api.run(results, args)
        elif section == "scale":
            from . import scale

            scale.run(results, args)
        elif section == "storage":
            from . import storage

            storage.run(results, args)
        print(f"    {section} took {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print()
    print(render(results))
    print(
        f"\n{args.repeats} repeats of ~{args.seconds:g} s each; median (min, max) over repeats; "
        f"load avg at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - started:.0f} s"
    )
    return 0
