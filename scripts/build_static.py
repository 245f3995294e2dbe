#!/usr/bin/env python3
"""Build the vendored browser assets: bpmn-js from the npm registry into web/static/vendor/bpmn-js/.

Runs `npm ci` in web/frontend only when the vendored copy is missing or package-lock.json changed,
so setup and CI scripts may call it before every serve or test run at no cost.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "web" / "frontend"
LOCK = FRONTEND / "package-lock.json"
VENDOR = ROOT / "web" / "static" / "vendor"
BPMN_JS = VENDOR / "bpmn-js"
STAMP = BPMN_JS / ".package-lock.sha256"
# The viewer for the staff RMA page, the modeler for the process owners' editor.
BUNDLES = ("bpmn-navigated-viewer.production.min.js", "bpmn-modeler.production.min.js")


def lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def is_current() -> bool:
    return (
        STAMP.is_file()
        and STAMP.read_text().strip() == lock_digest()
        and all((BPMN_JS / name).is_file() for name in BUNDLES)
    )


def npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("build_static: npm is not installed (Node.js 20 with npm is needed to build web/static/vendor)")
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)


def _packages(modules: Path):
    for entry in sorted(modules.iterdir()):
        if entry.name.startswith("@") and entry.is_dir():
            yield from sorted(p for p in entry.iterdir() if p.is_dir())
        elif entry.is_dir() and not entry.name.startswith("."):
            yield entry


def third_party_notices(modules: Path) -> str:
    """Every installed package with its licence text: the minified bundles embed all of them."""
    parts = []
    for package_dir in _packages(modules):
        licences = sorted(
            p for p in package_dir.iterdir() if p.is_file() and p.name.upper().startswith(("LICENSE", "LICENCE"))
        )
        if licences:
            text = licences[0].read_text(encoding="utf-8", errors="replace").strip()
            parts.append(f"==== {package_dir.relative_to(modules).as_posix()} ====\n\n{text}\n")
    return "\n".join(parts)


def copy_assets() -> None:
    modules = FRONTEND / "node_modules"
    dist = modules / "bpmn-js" / "dist"
    staging = VENDOR / ".bpmn-js.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in BUNDLES:
        shutil.copy2(dist / name, staging / name)
    shutil.copytree(dist / "assets", staging / "assets")
    shutil.copy2(modules / "bpmn-js" / "LICENSE", staging / "LICENSE")
    (staging / "THIRD_PARTY_LICENSES.txt").write_text(third_party_notices(modules), encoding="utf-8")
    (staging / ".package-lock.sha256").write_text(lock_digest() + "\n")
    shutil.rmtree(BPMN_JS, ignore_errors=True)
    staging.rename(BPMN_JS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when the vendored copy is current")
    args = parser.parse_args(argv)
    if is_current() and not args.force:
        print(f"build_static: {BPMN_JS.relative_to(ROOT)} is current")
        return 0
    npm_ci()
    copy_assets()
    print(f"build_static: built {BPMN_JS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
