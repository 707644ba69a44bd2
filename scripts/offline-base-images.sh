#!/usr/bin/env bash
# Build local stand-ins for the base images the Dockerfiles use, from Debian packages,
# for builders that reach no container registry (this machine, many air-gapped CIs):
#
#   debian:bookworm-slim                       mmdebstrap minbase, docs/man/locales excluded
#                                              and apt's docker-clean, as in the official image
#   gcr.io/distroless/python3-debian12:latest  distroless' own package list (static + base +
#   gcr.io/distroless/python3-debian12:nonroot cc + python3), files only, no shell, no
#                                              package manager; passwd/group with root,
#                                              nobody 65534 and nonroot 65532; Mozilla CA
#                                              certificates; /var/lib/dpkg/status.d for scanners
#
# and the supporting services of the compose stacks (docker-compose.*.yml), each built from
# debian:bookworm-slim and Debian's package by deploy/standins/<name>.Dockerfile, tagged
# with the upstream name its first line gives (`# tag: nginx:1.22`) and laid out like the
# upstream image (paths, user, entrypoint), so the stacks run unchanged on either.
#
# Idempotent: an image already tagged with this recipe (label codegraph.standin.recipe) is
# kept; --force rebuilds. Where the real images can be pulled, you don't need this script.
#
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (default deb.debian.org), SOURCE_DATE_EPOCH
# (timestamps of the files and the image; default: now), DOCKER (client, default docker).
set -euo pipefail

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DOCKER=${DOCKER:-docker}
SLIM_TAG=debian:bookworm-slim
DISTROLESS_REPO=gcr.io/distroless/python3-debian12
FORCE=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; echo "usage: $0 [--force]"; }
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

for tool in mmdebstrap dpkg-deb "$DOCKER"; do
  command -v "$tool" >/dev/null || { echo "offline-base-images: $tool is missing (apt-get install mmdebstrap docker.io)" >&2; exit 1; }
done
"$DOCKER" info >/dev/null 2>&1 || { echo "offline-base-images: no Docker engine reachable" >&2; exit 1; }

# the base images' recipe: this script up to the service stand-ins (editing those rebuilds
# only them)
RECIPE=$(sed '/^# --- service stand-ins/,$d' "$0" | sha256sum | cut -c1-16)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
export SOURCE_DATE_EPOCH
SOURCES=(
  "deb $MIRROR $SUITE main"
  "deb $MIRROR $SUITE-updates main"
  "deb $SECURITY $SUITE-security main"
)
WORK=$(mktemp -d /tmp/offline-base-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

current() {  # is TAG already built from this recipe?
  [ "$FORCE" = 0 ] && [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "codegraph.standin.recipe"}}' "$1" 2>/dev/null)" = "$RECIPE" ]
}

import_dir() {  # import_dir DIR TAG [--change ...]: a deterministic tarball of DIR as image TAG
  local dir=$1 tag=$2; shift 2
  tar --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
      -C "$dir" -cf - . |
    "$DOCKER" import --change "LABEL codegraph.standin.recipe=$RECIPE" \
      --change "LABEL org.opencontainers.image.description=\"offline stand-in for $tag, built from Debian $SUITE packages by scripts/offline-base-images.sh\"" \
      "$@" - "$tag" >/dev/null
  echo "offline-base-images: $tag $("$DOCKER" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}')"
}

# --- debian:bookworm-slim --------------------------------------------------------------
if current "$SLIM_TAG"; then
  echo "offline-base-images: $SLIM_TAG is current"
else
  echo "offline-base-images: building $SLIM_TAG with mmdebstrap"
  # shellcheck disable=SC2016 # "$1" in the hook is the root that mmdebstrap passes to it
  mmdebstrap --quiet --mode=root --variant=minbase --format=directory \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/groff/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --aptopt='Acquire::Languages "none"' --aptopt='APT::AutoRemove::SuggestsImportant "false"' \
    --customize-hook='printf "%s\n" "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" > "$1"/etc/apt/apt.conf.d/docker-clean' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/etc/machine-id' \
    "$SUITE" "$WORK/slim" "${SOURCES[@]}"
  import_dir "$WORK/slim" "$SLIM_TAG" --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  rm -rf "$WORK/slim"
fi

# --- gcr.io/distroless/python3-debian12 ------------------------------------------------
# Distroless' package lists (base/ + cc/ + python3/ of GoogleContainerTools/distroless, debian12).
STATIC_PKGS=(base-files netbase tzdata media-types)
BASE_PKGS=(libc6 libssl3)
CC_PKGS=(libgcc-s1 gcc-12-base libgomp1 libstdc++6)
PYTHON_PKGS=(libbz2-1.0 libdb5.3 libexpat1 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6
  python3-distutils zlib1g libcom-err2 libcrypt1 libgssapi-krb5-2 libk5crypto3 libkeyutils1
  libkrb5-3 libkrb5support0 libnsl2 libreadline8 libtirpc3 libffi8
  libpython3.11-minimal libpython3.11-stdlib python3.11-minimal)
WANTED=("${STATIC_PKGS[@]}" "${BASE_PKGS[@]}" "${CC_PKGS[@]}" "${PYTHON_PKGS[@]}")

if current "$DISTROLESS_REPO:latest" && current "$DISTROLESS_REPO:nonroot"; then
  echo "offline-base-images: $DISTROLESS_REPO is current"
else
  echo "offline-base-images: building $DISTROLESS_REPO (latest, nonroot) from Debian packages"
  debs=$WORK/debs root=$WORK/distroless
  mkdir -p "$debs" "$root"
  # mmdebstrap resolves and downloads (signature-checked); only the debs are kept. Like
  # distroless, the image holds exactly the listed packages, not their dependency closure
  # (which would bring dpkg, tar, debconf ...).
  include=$(IFS=,; echo "${WANTED[*]},ca-certificates")
  mmdebstrap --quiet --mode=root --variant=extract --format=null --include="$include" \
    --extract-hook="cp \"\$1\"/var/cache/apt/archives/*.deb '$debs'/" \
    "$SUITE" /dev/null "${SOURCES[@]}"
  # usrmerge, /tmp and the home directories, as distroless lays them out
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/etc/ssl/certs "$root"/var/lib/dpkg/status.d \
    "$root"/tmp "$root"/root "$root"/home/nonroot
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
  chmod 1777 "$root/tmp"; chmod 700 "$root/root" "$root/home/nonroot"
  chown 65532:65532 "$root/home/nonroot"
  for pkg in "${WANTED[@]}"; do
    deb=$(find "$debs" -name "${pkg}_*.deb" | head -n1)
    [ -n "$deb" ] || { echo "offline-base-images: $pkg was not downloaded" >&2; exit 1; }
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root" --keep-directory-symlink
    dpkg-deb -f "$deb" > "$root/var/lib/dpkg/status.d/$pkg"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums > "$root/var/lib/dpkg/status.d/$pkg.md5sums" 2>/dev/null || true
  done
  # CA certificates: the Mozilla bundle of Debian's ca-certificates, files only (as
  # distroless' cacerts rule does); never the build host's bundle.
  cadeb=$(find "$debs" -name 'ca-certificates_*.deb' | head -n1)
  mkdir "$WORK/ca" && dpkg-deb -x "$cadeb" "$WORK/ca"
  find "$WORK/ca/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort |
    xargs cat > "$root/etc/ssl/certs/ca-certificates.crt"
  install -D -m 644 "$WORK/ca/usr/share/doc/ca-certificates/copyright" "$root/usr/share/doc/ca-certificates/copyright"
  dpkg-deb -f "$cadeb" > "$root/var/lib/dpkg/status.d/ca-certificates"
  ln -sf python3.11 "$root/usr/bin/python3"; ln -sf python3.11 "$root/usr/bin/python"
  # what distroless drops: documentation other than copyright files, manuals
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$root"/usr/share/{man,info,lintian}
  cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat > "$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' 'networks: files' \
    'protocols: files' 'services: files' 'ethers: files' 'rpc: files' > "$root/etc/nsswitch.conf"
  rm -f "$root/etc/os-release"
  cat > "$root/etc/os-release" <<'EOF'
PRETTY_NAME="Distroless"
NAME="Debian GNU/Linux"
ID="debian"
VERSION_ID="12"
VERSION="Debian GNU/Linux 12 (bookworm)"
HOME_URL="https://github.com/GoogleContainerTools/distroless"
EOF
  for f in sh dash bash busybox; do
    if [ -e "$root/bin/$f" ] || [ -e "$root/usr/bin/$f" ]; then
      echo "offline-base-images: a shell ($f) slipped into distroless" >&2; exit 1
    fi
  done
  common=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
          --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
          --change 'ENV LANG=C.UTF-8' --change 'ENTRYPOINT ["/usr/bin/python3.11"]')
  # the same tarball twice (one layer in the store), with the two users distroless publishes
  import_dir "$root" "$DISTROLESS_REPO:latest" "${common[@]}" --change 'USER 0' --change 'WORKDIR /'
  import_dir "$root" "$DISTROLESS_REPO:nonroot" "${common[@]}" --change 'USER 65532' \
    --change 'WORKDIR /home/nonroot'
fi

# --- service stand-ins ------------------------------------------------------------------
STANDINS=$(cd "$(dirname "$0")/../deploy/standins" && pwd)
for dockerfile in "$STANDINS"/*.Dockerfile; do
  tag=$(sed -n '1s/^# tag: //p' "$dockerfile")
  [ -n "$tag" ] || { echo "offline-base-images: $dockerfile has no '# tag:' first line" >&2; exit 1; }
  RECIPE=$(cat "$0" "$dockerfile" | sha256sum | cut -c1-16)
  if current "$tag"; then
    echo "offline-base-images: $tag is current"
    continue
  fi
  echo "offline-base-images: building $tag from $(basename "$dockerfile")"
  # (no BuildKit features needed: the classic builder works with any client)
  DOCKER_BUILDKIT=0 "$DOCKER" build --quiet -f "$dockerfile" \
    --label "codegraph.standin.recipe=$RECIPE" \
    --label "org.opencontainers.image.description=offline stand-in for $tag, built from Debian $SUITE packages by scripts/offline-base-images.sh" \
    -t "$tag" "$STANDINS" >/dev/null
  echo "offline-base-images: $tag $("$DOCKER" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}')"
done
