#!/usr/bin/env bash
# setup-venv.sh VENV [--dev]: create VENV and install the pinned dependencies from
# requirements.lock into it, then this checkout (editable). Without --dev only what
# CodeGraph needs to run (`make run`); with it, the test and lint tools too (`make test`).
#
# uv installs them when it can be had (its PyPI wheel, pinned below): about 3x as fast as
# pip on a fresh machine (bench/bench_setup.py). When it cannot (no wheel for this
# platform, an index that does not have it), pip does the same install.
set -euo pipefail

UV_VERSION=0.13.9
venv=${1:?usage: setup-venv.sh VENV [--dev]}
dev=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

plan=$(mktemp)
trap 'rm -f "$plan"' EXIT
# The runtime pins (or all of them) from the one lock: scripts/lock-plan.py.
"$python" "$here/scripts/lock-plan.py" ${dev:+--dev} "$here/requirements.lock" \
  "$here/pyproject.toml" > "$plan"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)

# uv reads no pip configuration: give it pip's index, if one is set (a mirror).
if [ -z "${UV_DEFAULT_INDEX:-}" ]; then
  index=${PIP_INDEX_URL:-$("${pip[@]}" config get global.index-url 2>/dev/null || true)}
  [ -z "$index" ] || export UV_DEFAULT_INDEX=$index
fi

has_uv() { "$venv/bin/uv" --version 2>/dev/null | grep -q "^uv $UV_VERSION\b"; }
if has_uv || "${pip[@]}" install "uv==$UV_VERSION" >/dev/null 2>&1; then
  uv=("$venv/bin/uv" --quiet pip install --python "$venv/bin/python" --no-deps)
  if "${uv[@]}" -r "$plan" && "${uv[@]}" -e "$here"; then
    exit 0
  fi
  echo "setup-venv: uv could not install the lock; trying pip" >&2
fi
"${pip[@]}" install --no-deps -r "$plan"
"${pip[@]}" install --no-deps -e "$here"
