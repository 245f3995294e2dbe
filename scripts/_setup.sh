# Shared setup for scripts/run and scripts/test: a virtualenv with the project installed, and the
# front-end assets (bpmn-js from the npm registry) built into web/static/vendor.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv in .venv"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.rma-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$EXTRAS"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "==> installing the project${EXTRAS:+ with [$EXTRAS]}"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
  echo "$want" > "$stamp"
fi
if [ -f scripts/build_static.py ]; then
  "$VENV/bin/python" scripts/build_static.py
fi
