#!/bin/sh
# pip-install.sh [--dest DIR] PYTHON REQUIREMENTS...: install pinned wheels into the
# environment of PYTHON with the builder's own pip (/opt/pip: the app's venv gets no pip),
# without dependency resolution (the lock is complete), from the wheelhouse /wheels, a
# BuildKit cache mount; with --dest, copy the wheels to DIR instead. What the wheelhouse lacks is downloaded first:
# through a TLS-intercepting proxy pip trusts the CA bundle given as the build secret "ca"
# (mounted at /run/secrets/ca for that one step, never stored in a layer).
set -eu
dest=""
if [ "$1" = --dest ]; then dest=$2; shift 2; fi
python=$1; shift
[ -s /run/secrets/ca ] && export PIP_CERT=/run/secrets/ca
req=""
for r in "$@"; do req="$req -r $r"; done
from_wheelhouse() {
  # shellcheck disable=SC2086 # $req is a list of options
  if [ -n "$dest" ]; then
    /opt/pip/bin/pip download --quiet --no-deps --no-index --find-links /wheels --dest "$dest" $req
  else
    /opt/pip/bin/pip --python "$python" install --quiet --no-deps --no-index --find-links /wheels $req
  fi
}
if ! from_wheelhouse 2>/dev/null; then
  echo "pip-install: filling the wheelhouse from the package index"
  # shellcheck disable=SC2086
  /opt/pip/bin/pip download --quiet --no-deps --only-binary=:all: --dest /wheels $req
  from_wheelhouse
fi
