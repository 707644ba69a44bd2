#!/usr/bin/env bash
# Restore the CodeGraph data volume of a compose stack from a backup archive
# (codegraph-data-*.tar.gz, made by scripts/backup.sh or `codegraph backup`): verifies the
# whole archive and every checksum in a one-off container of codegraph-indexer while the
# service still runs (`codegraph restore --check`; a corrupt or truncated archive is refused
# there, nothing stopped), then stops codegraph-indexer (the only writer), runs `codegraph
# restore` (which verifies again as it unpacks, and touches the volume only once all of it
# checked out) with the archive mounted read-only, starts the indexer again and waits until
# it is healthy. The replicas (codegraph-api) keep answering from their snapshot meanwhile
# and switch to the one the indexer publishes of the restored data. The archive must be
# readable by uid 65534, the user the API's containers run as (a mode-0600 file of yours is
# not): checked first, nothing is touched otherwise.
#
#   scripts/restore.sh [-f COMPOSE_FILE]... [--env-file FILE]... [-p PROJECT] [-t SECONDS] FILE
#
# -f, --env-file and -p are passed to `docker compose` (as for scripts/backup.sh);
# COMPOSE_FILE defaults to docker-compose.production.yml at the repository root; -t is how
# long to wait for the service to be healthy (default 180).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

root="$(cd "$(dirname "$0")/.." && pwd)"
PROG=restore
# shellcheck source=scripts/lib/compose.sh
. "$root/scripts/lib/compose.sh"
timeout=180
file=""
while [ $# -gt 0 ]; do
    take_compose_option "$@"
    if [ "$TAKEN" -gt 0 ]; then shift "$TAKEN"; continue; fi
    case "$1" in
        -t|--timeout) [ $# -gt 1 ] || { echo "restore: $1 needs a value" >&2; exit 2; }
                      case "$2" in ''|*[!0-9]*) echo "restore: -t needs seconds" >&2; exit 2 ;;
                      esac
                      timeout="$2"; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "restore: unknown option '$1'" >&2; usage 2 ;;
        *) [ -z "$file" ] || { echo "restore: one FILE only" >&2; exit 2; }
           file="$1" ;;
    esac
    shift
done
[ -n "$file" ] || { echo "restore: give the archive to restore" >&2; usage 2; }
[ -f "$file" ] || die "no such file: $file"

# The archive is bind-mounted into a container running as uid:gid 65534:65534: the
# permission bits of the class that user falls in (owner, group, other) must allow reading.
readable_by_api() {
    local uid gid mode
    read -r uid gid mode <<<"$(stat -L -c '%u %g %a' "$1")"
    mode=$((8#$mode))
    if [ "$uid" = 65534 ]; then
        [ $((mode & 8#400)) -ne 0 ]
    elif [ "$gid" = 65534 ]; then
        [ $((mode & 8#040)) -ne 0 ]
    else
        [ $((mode & 8#004)) -ne 0 ]
    fi
}
readable_by_api "$file" ||
    die "$file (mode $(stat -L -c '%a, owner %U:%G' "$file")) is not readable by uid 65534," \
        "the user codegraph-indexer runs as, so its container could not read it. Make it" \
        "readable (chmod o+r '$file', or a copy with mode 0644 in a directory of yours)" \
        "and run again; nothing was stopped or changed"

compose_command "$root"
file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
name="$(basename "$file")"

wait_healthy() {  # SERVICE: wait until its container is healthy
    local deadline=$((SECONDS + timeout)) id status
    while [ "$SECONDS" -lt "$deadline" ]; do
        id="$("${compose[@]}" ps -q "$1")"
        status="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' \
                  "$id" 2>/dev/null || true)"
        if [ "$status" = healthy ]; then
            return 0
        fi
        sleep 2
    done
    die "$1 is not healthy after ${timeout}s: docker compose logs $1"
}

# Verify first, beside the running service (no store is opened): a corrupt or truncated
# archive is refused before anything stops.
"${compose[@]}" run --rm --no-deps -T --entrypoint codegraph \
    -v "$file:/restore/$name:ro" codegraph-indexer restore --check "/restore/$name" ||
    die "the archive was refused (the line above says why); nothing was stopped or changed"
"${compose[@]}" stop codegraph-indexer
status=0
"${compose[@]}" run --rm --no-deps -T --entrypoint codegraph \
    -v "$file:/restore/$name:ro" codegraph-indexer restore "/restore/$name" || status=$?
"${compose[@]}" up -d --no-deps codegraph-indexer
wait_healthy codegraph-indexer
if [ "$status" -ne 0 ]; then
    die "the restore was refused (the line above says why); the data is as it was and" \
        "codegraph-indexer is running again"
fi
echo "restored from $name; codegraph-indexer is healthy"
