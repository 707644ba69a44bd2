#!/usr/bin/env bash
# docker-entrypoint.sh of the postgres:15 stand-in (deploy/standins/postgres.Dockerfile):
# the official image's essentials. On the first start (no $PGDATA/PG_VERSION) it
# initialises the cluster with POSTGRES_USER / POSTGRES_PASSWORD (or *_FILE), creates
# POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sql|*.sh against a socket-only server,
# then starts postgres listening on all addresses with scram-sha-256 (or
# POSTGRES_HOST_AUTH_METHOD) for every TCP client.
set -Eeuo pipefail

log() { echo "docker-entrypoint: $*" >&2; }

# VAR or VAR_FILE (docker secrets), never both
file_env() {
  local var=$1 file_var="${1}_FILE" def=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    log "both $var and $file_var are set (but are exclusive)"; exit 1
  fi
  local val=$def
  if [ -n "${!var:-}" ]; then val=${!var}; elif [ -n "${!file_var:-}" ]; then val=$(<"${!file_var}"); fi
  export "$var"="$val"; unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

: "${PGDATA:=/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then  # as root: own the data directory, then drop to postgres
  install -d -o postgres -g postgres -m 0700 "$PGDATA"
  chmod 0700 "$PGDATA"; chown postgres:postgres "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    log "the database is uninitialized and POSTGRES_PASSWORD is not set: set it (or POSTGRES_PASSWORD_FILE)"
    exit 1
  fi
  mkdir -p "$PGDATA"; chmod 0700 "$PGDATA"
  log "initialising $PGDATA for user $POSTGRES_USER"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as upstream
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" $POSTGRES_INITDB_ARGS >/dev/null
  {
    echo "listen_addresses = '*'"
    echo "password_encryption = 'scram-sha-256'"
  } >> "$PGDATA/postgresql.conf"
  # every TCP client needs the password (initdb only wrote loopback lines)
  echo "host all all all $POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

  # a server on the socket only: nothing outside reaches it (or sees it healthy) meanwhile
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)  # executable: run; else sourced, as upstream does
        log "running $f"
        # shellcheck source=/dev/null
        if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) [ -e "$f" ] && log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset POSTGRES_PASSWORD
  log "initialisation complete; starting postgres"
fi

exec "$@"
