# shellcheck shell=bash disable=SC2034  # TAKEN and compose are read by the sourcing script
# Sourced by scripts/backup.sh and scripts/restore.sh: compose's options for addressing a
# stack (-f, --env-file, -p, as `docker compose` takes them) and the command they make.
# The sourcing script sets PROG (its name, for messages) first.

die() { echo "$PROG: $*" >&2; exit 1; }

compose_files=()
env_files=()
project=""

# take_compose_option "$@": when $1 is one of compose's options, keep its value and set
# TAKEN to the arguments it used (2); else TAKEN=0.
take_compose_option() {
    TAKEN=0
    case "$1" in
        -f|--file|--env-file|-p|--project-name) ;;
        *) return 0 ;;
    esac
    [ $# -gt 1 ] || { echo "$PROG: $1 needs a value" >&2; exit 2; }
    case "$1" in
        -f|--file) compose_files+=("$2") ;;
        --env-file) env_files+=("$2") ;;
        *) project="$2" ;;
    esac
    TAKEN=2
}

# compose_command ROOT: the `docker compose` command line for the stack, in the array
# `compose` (default file: ROOT/docker-compose.production.yml).
compose_command() {
    [ "${#compose_files[@]}" -gt 0 ] || compose_files=("$1/docker-compose.production.yml")
    compose=(docker compose)
    local f
    for f in "${compose_files[@]}"; do
        [ -f "$f" ] || die "no compose file $f (give one with -f)"
        compose+=(-f "$f")
    done
    for f in ${env_files[@]+"${env_files[@]}"}; do
        [ -f "$f" ] || die "no env file $f"
        compose+=(--env-file "$f")
    done
    if [ -n "$project" ]; then
        compose+=(-p "$project")
    fi
}
