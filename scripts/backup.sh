#!/usr/bin/env bash
# Back up the CodeGraph data volume of a running compose stack, consistently: the indexer
# (codegraph-indexer, the only writer) writes codegraph-data-YYYYMMDD-HHMMSS.tar.gz into its /app/backups volume (a
# RocksDB checkpoint, the FAISS and lexical indexes of the same revision, and a manifest of
# checksums) while it keeps answering; the archive is then copied into OUTDIR and its
# SHA-256 checked against the one the server reported.
#
#   scripts/backup.sh [-f COMPOSE_FILE]... [--env-file FILE]... [-p PROJECT] [OUTDIR]
#
# -f, --env-file and -p are passed to `docker compose` (repeat -f for override files);
# COMPOSE_FILE defaults to docker-compose.production.yml at the repository root, the env
# file to compose's own default (.env beside the first compose file), OUTDIR to ./backups.
# Prints the local archive's path. Restore it with scripts/restore.sh.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

root="$(cd "$(dirname "$0")/.." && pwd)"
PROG=backup
# shellcheck source=scripts/lib/compose.sh
. "$root/scripts/lib/compose.sh"
outdir=""
while [ $# -gt 0 ]; do
    take_compose_option "$@"
    if [ "$TAKEN" -gt 0 ]; then shift "$TAKEN"; continue; fi
    case "$1" in
        -h|--help) usage 0 ;;
        -*) echo "backup: unknown option '$1'" >&2; usage 2 ;;
        *) [ -z "$outdir" ] || { echo "backup: one OUTDIR only" >&2; exit 2; }
           outdir="$1" ;;
    esac
    shift
done
outdir="${outdir:-./backups}"
compose_command "$root"

# The store is held by the running server: `codegraph backup` asks its admin endpoint
# (CODEGRAPH_ADMIN_TOKEN from the container's environment), and the server writes the file.
reply="$("${compose[@]}" exec -T codegraph-indexer codegraph backup /app/backups --json)" \
    || die "the indexer could not write a backup (see the line above)"
archive="$(printf '%s\n' "$reply" | sed -n 's/.*"archive": "\([^"]*\)".*/\1/p')"
sha256="$(printf '%s\n' "$reply" | sed -n 's/.*"sha256": "\([0-9a-f]\{64\}\)".*/\1/p')"
if [ -z "$archive" ] || [ -z "$sha256" ]; then
    die "unexpected answer from codegraph backup: $reply"
fi

mkdir -p "$outdir"
name="${archive##*/}"
partial="$outdir/.$name.partial"
trap 'rm -f "$partial"' EXIT
"${compose[@]}" cp "codegraph-indexer:$archive" "$partial"
got="$(sha256sum "$partial" | cut -d' ' -f1)"
[ "$got" = "$sha256" ] || die "the copy of $name has SHA-256 $got, the server wrote $sha256"
mv "$partial" "$outdir/$name"
trap - EXIT
echo "$outdir/$name"
