#!/usr/bin/env bash
# Make a self-signed TLS certificate for local use: tls.crt + tls.key (EC P-256, 825 days,
# SANs DNS:localhost, IP:127.0.0.1, IP:::1 and any --san given), in deploy/certs or DIR.
# nginx reads them from ${CODEGRAPH_CERTS_DIR:-./deploy/certs} at /etc/nginx/certs.
#
#   scripts/dev-certs.sh [--force] [--san DNS:name|IP:addr]... [DIR]
#
# Refuses to overwrite existing files unless --force. For production use a certificate from
# your CA (see docs/deployment.md, "Certificates").
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

force=0
dir=""
sans="DNS:localhost,IP:127.0.0.1,IP:::1"
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        --san) shift; [ $# -gt 0 ] || { echo "dev-certs: --san needs a value" >&2; exit 2; }
               case "$1" in DNS:*|IP:*) sans="$sans,$1" ;;
                   *) echo "dev-certs: --san must look like DNS:name or IP:addr, got '$1'" >&2
                      exit 2 ;;
               esac ;;
        -h|--help) usage 0 ;;
        -*) echo "dev-certs: unknown option '$1'" >&2; usage 2 ;;
        *) [ -z "$dir" ] || { echo "dev-certs: one directory only" >&2; exit 2; }
           dir="$1" ;;
    esac
    shift
done
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${dir:-$root/deploy/certs}"
command -v openssl >/dev/null || { echo "dev-certs: openssl is not installed" >&2; exit 1; }

mkdir -p "$dir"
crt="$dir/tls.crt"
key="$dir/tls.key"
if [ "$force" -eq 0 ] && { [ -e "$crt" ] || [ -e "$key" ]; }; then
    echo "dev-certs: $crt or $key exists; use --force to replace them" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=localhost/O=CodeGraph development" \
    -addext "subjectAltName=$sans" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$tmp/tls.key" -out "$tmp/tls.crt" 2>/dev/null
# nginx runs as uid/gid 101 and reads the key through a bind mount: as root, give the key
# to group 101 (0640); otherwise it has to be world-readable (0644), fine for a dev key only.
chmod 0644 "$tmp/tls.crt"
if [ "$(id -u)" = 0 ] && chgrp 101 "$tmp/tls.key" 2>/dev/null; then
    chmod 0640 "$tmp/tls.key"
else
    chmod 0644 "$tmp/tls.key"
fi
mv -f "$tmp/tls.crt" "$crt"
mv -f "$tmp/tls.key" "$key"
echo "dev-certs: wrote $crt and $key ($sans)"
openssl x509 -in "$crt" -noout -subject -enddate
