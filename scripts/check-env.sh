#!/usr/bin/env bash
# Check a .env before `docker compose up`.
#
#   scripts/check-env.sh [--dev] [ENV_FILE]        (default: .env)
#
#   --dev   also require the development stack's secrets (POSTGRES_PASSWORD, JUPYTER_TOKEN,
#           REDIS_COMMANDER_PASSWORD), check that its host ports differ, and warn about a
#           CPU limit above this host's CPUs and a missing source or notebooks directory
#
# Checks: every line is NAME=value; the required secrets (REDIS_PASSWORD,
# GRAFANA_ADMIN_PASSWORD, CODEGRAPH_API_KEY, CODEGRAPH_ADMIN_TOKEN) are set, at least 16
# characters, no placeholder ("changeme", "your-...") and safe to interpolate; ports,
# booleans, sizes (256MB), counts, log levels, host and bind addresses, the subnet (CIDR),
# the API's CPU limit (CODEGRAPH_API_CPUS; a warning above this host's CPUs), the number
# of replicas (CODEGRAPH_REPLICAS), the image tag
# and URLs are well-formed. Unknown variables, a bind on every interface,
# missing certificates or repository directory are warnings. Then, where a `codegraph`
# command is found, the API checks the file's settings itself (`codegraph check-config
# --env-file`), with the same rules it applies at start.
#
# Exit 0 with one OK line; 1 with one line per problem, each naming the variable (stderr);
# 2 for a usage error or a file that cannot be read. Warnings go to stderr and never fail.
# Environment: CODEGRAPH, the codegraph command (default: `codegraph` on PATH, else
# .venv/bin/codegraph; CODEGRAPH=none skips the API's own check).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
DEV=0 FILE=""
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --dev) DEV=1 ;;
    -*) usage >&2; echo "check-env: unknown option: $1" >&2; exit 2 ;;
    *) [ -z "$FILE" ] || { echo "check-env: one ENV_FILE only" >&2; exit 2; }; FILE=$1 ;;
  esac
  shift
done
FILE=${FILE:-.env}
if [ ! -f "$FILE" ] || [ ! -r "$FILE" ]; then
  echo "check-env: $FILE: no such readable file (cp .env.example $FILE, then fill in the secrets)" >&2
  exit 2
fi

PROBLEMS=()
declare -A VAL LINE
problem() { PROBLEMS+=("check-env: $FILE: $1: $2"); }
warn() { echo "check-env: warning: $FILE: $1: $2" >&2; }

# --- read the file as Docker Compose does ----------------------------------------------
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  line=${line%$'\r'}
  [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
  if [[ ! $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
    problem "line $n" "not a NAME=value line"
    continue
  fi
  name=${BASH_REMATCH[2]} value=${BASH_REMATCH[3]}
  if [[ $value =~ ^\"([^\"]*)\" ]] || [[ $value =~ ^\'([^\']*)\' ]]; then
    value=${BASH_REMATCH[1]}
  elif [[ ${value:0:1} == \" || ${value:0:1} == \' ]]; then
    problem "$name" "unclosed quote (line $n)"
    continue
  else
    value=${value%%[[:space:]]#*}
    value=${value%"${value##*[![:space:]]}"}
  fi
  [ -z "${LINE[$name]:-}" ] || warn "$name" "set twice (lines ${LINE[$name]} and $n): the last one counts"
  VAL[$name]=$value LINE[$name]=$n
done <"$FILE"

# --- the checks ---------------------------------------------------------------------------
set_() { [ -n "${VAL[$1]:-}" ]; }
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
is_ipv4() {
  local IFS=. o
  [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  for o in $1; do [ "$((10#$o))" -le 255 ] || return 1; done
}
ipv4_int() { local IFS=. a b c d; read -r a b c d <<<"$1"; echo $(((10#$a << 24) + (10#$b << 16) + (10#$c << 8) + 10#$d)); }

check_port() {
  set_ "$1" || return 0
  local v=${VAL[$1]}
  if [[ ! $v =~ ^[0-9]{1,5}$ ]] || [ "$((10#$v))" -lt 1 ] || [ "$((10#$v))" -gt 65535 ]; then
    problem "$1" "must be a port, 1-65535, got '$v'"
  fi
}
check_bool() {
  set_ "$1" || return 0
  case $(lower "${VAL[$1]}") in
    1|true|yes|on|0|false|no|off) ;;
    *) problem "$1" "must be true or false, got '${VAL[$1]}'" ;;
  esac
}
check_size() {
  set_ "$1" || return 0
  [[ $(lower "${VAL[$1]}") =~ ^[0-9]+(\.[0-9]+)?[[:space:]]*[kmgt]?i?b?$ ]] ||
    problem "$1" "must be a size such as 256MB, 1GiB or a number of bytes, got '${VAL[$1]}'"
}
check_int() {  # NAME LO HI
  set_ "$1" || return 0
  local v=${VAL[$1]}
  if [[ ! $v =~ ^[0-9]{1,9}$ ]] || [ "$((10#$v))" -lt "$2" ] || [ "$((10#$v))" -gt "$3" ]; then
    problem "$1" "must be a whole number between $2 and $3, got '$v'"
  fi
}
check_seconds() {
  set_ "$1" || return 0
  [[ ${VAL[$1]} =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
    problem "$1" "must be a number of seconds, not negative, got '${VAL[$1]}'"
}
check_choice() {  # NAME CHOICE...
  local name=$1 c; shift
  set_ "$name" || return 0
  for c in "$@"; do [ "$(lower "${VAL[$name]}")" = "$c" ] && return 0; done
  problem "$name" "must be one of $*, got '${VAL[$name]}'"
}
check_log_level() {
  set_ "$1" || return 0
  local d level ours="" default="" IFS=,
  for d in ${VAL[$1]}; do
    d=$(lower "${d//[[:space:]]/}")
    level=${d##*=}
    if [[ $d != *=* ]]; then default=$level
    elif [[ ${d%=*} =~ ^codegraph(_api)?(::.*)?$ ]]; then ours=$level
    fi
  done
  case ${ours:-$default} in
    trace|debug|info|warn|warning|error|off|critical) ;;
    *) problem "$1" "must be trace, debug, info, warn, error or off (or directives such as codegraph=debug,info), got '${VAL[$1]}'" ;;
  esac
}
check_host() {
  set_ "$1" || return 0
  local v=${VAL[$1]}
  is_ipv4 "$v" && return 0
  [[ $v == *:* && $v =~ ^\[?[0-9A-Fa-f:.]+\]?$ ]] && return 0  # an IPv6 literal
  if [[ ! $v =~ ^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] ||
     [[ ${v##*.} =~ ^[0-9]+$ ]]; then
    problem "$1" "must be an IP address or a host name, got '$v'"
  fi
}
check_url() {  # NAME SCHEME-REGEX WHAT
  set_ "$1" || return 0
  [[ ${VAL[$1]} =~ ^($2)://[^[:space:]]+$ ]] || problem "$1" "must be $3, got '${VAL[$1]%%@*}...'"
}
check_secret() {  # NAME REQUIRED(0|1) HOW
  local name=$1 v=${VAL[$1]:-}
  if [ -z "$v" ]; then
    [ "$2" = 0 ] || problem "$name" "required and empty: set it (generate one: $3)"
    return 0
  fi
  local l; l=$(lower "$v")
  if [[ $l =~ (change.?me|changeit|your[-_]|placeholder|example|^password|^secret|^admin|xxxx|^<.*>$|^todo) ]]; then
    problem "$name" "is a placeholder: set a real one (generate one: $3)"
  elif [ "${#v}" -lt 16 ]; then
    problem "$name" "too short (${#v} characters, at least 16): generate one: $3"
  elif [ -z "${v//"${v:0:1}"/}" ]; then
    problem "$name" "is one character repeated: generate one: $3"
  elif [[ $v =~ [[:space:]\$\"\'\\#\`] ]]; then
    problem "$name" "contains whitespace, a quote, \$, # or a backslash, which Compose or a header would mangle: generate one: $3"
  fi
}

HOW="openssl rand -hex 32"
for s in REDIS_PASSWORD GRAFANA_ADMIN_PASSWORD CODEGRAPH_API_KEY CODEGRAPH_ADMIN_TOKEN; do
  check_secret "$s" 1 "$HOW"
done
if set_ REDIS_PASSWORD && [[ ! ${VAL[REDIS_PASSWORD]} =~ ^[A-Za-z0-9._~-]+$ ]]; then
  problem REDIS_PASSWORD "must be URL-safe (letters, digits, . _ ~ -): it goes into REDIS_URL (generate one: $HOW)"
fi
if set_ CODEGRAPH_API_KEY && [ "${VAL[CODEGRAPH_API_KEY]}" = "${VAL[CODEGRAPH_ADMIN_TOKEN]:-}" ]; then
  problem CODEGRAPH_ADMIN_TOKEN "must differ from CODEGRAPH_API_KEY"
fi
for s in POSTGRES_PASSWORD JUPYTER_TOKEN REDIS_COMMANDER_PASSWORD; do check_secret "$s" "$DEV" "openssl rand -hex 24"; done
if [ "$(lower "${VAL[EMBEDDING_PROVIDER]:-}")" = openai ] && ! set_ OPENAI_API_KEY; then
  problem OPENAI_API_KEY "required with EMBEDDING_PROVIDER=openai"
fi

for name in "${!VAL[@]}"; do [[ $name == *_PORT ]] && check_port "$name"; done
if set_ SERVER_PORT && set_ METRICS_PORT && [ "${VAL[SERVER_PORT]}" = "${VAL[METRICS_PORT]}" ]; then
  problem METRICS_PORT "must differ from SERVER_PORT (${VAL[SERVER_PORT]})"
fi
for b in PROMETHEUS_ENABLED DEBUG_MODE HOT_RELOAD CODEGRAPH_EMBED CODEGRAPH_WATCH \
         CODEGRAPH_AUTH_READS CODEGRAPH_TRACEMALLOC CODEGRAPH_DEBUG; do check_bool "$b"; done
for s in ROCKSDB_BLOCK_CACHE_SIZE CODEGRAPH_MAX_FILE_SIZE CODEGRAPH_MAX_BODY \
         CODEGRAPH_CACHE_LOCAL_BYTES CODEGRAPH_CACHE_MAX_ENTRY; do check_size "$s"; done
check_int TOKIO_WORKER_THREADS 1 256
check_int CODEGRAPH_WORKERS 1 256
check_int CODEGRAPH_CACHE_TTL 1 604800
check_int CODEGRAPH_CACHE_LOCAL_ENTRIES 0 1000000
check_int CODEGRAPH_MAX_DEPTH 2 500
check_int CODEGRAPH_MAX_TOKENS 100 1000000
for s in CODEGRAPH_STALE_AFTER CODEGRAPH_MIN_REVISION_WAIT CODEGRAPH_DRAIN_SECONDS; do check_seconds "$s"; done
check_log_level RUST_LOG
check_log_level CODEGRAPH_LOG_LEVEL
check_choice EMBEDDING_PROVIDER local openai
check_choice CODEGRAPH_LOG_FORMAT auto json console
check_host SERVER_HOST
check_url OPENAI_BASE_URL 'https?' "an http(s) URL"
check_url REDIS_URL 'rediss?|unix' "a redis://, rediss:// or unix:// URL"
for t in CODEGRAPH_TAG CODEGRAPH_DEV_TAG CODEGRAPH_JUPYTER_TAG GRAFANA_VERSION; do
  if set_ "$t" && [[ ! ${VAL[$t]} =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
    problem "$t" "must be an image tag (letters, digits, _ . -; at most 128), got '${VAL[$t]}'"
  fi
done
# --- CPU limits: Docker refuses one above the host's CPUs ----------------------------------
host_cpus=$(nproc 2>/dev/null || echo 0)
over_host() {  # NAME CPUS: warn when above this host's CPUs
  if [ "$host_cpus" -gt 0 ] && awk -v l="$2" -v h="$host_cpus" 'BEGIN { exit !(l > h) }'; then
    warn "$1" "$2 is more than this host's $host_cpus CPUs: Docker refuses to start the API (\"Range of CPUs is from 0.01 to $host_cpus.00, as there are only $host_cpus CPUs available\")"
  fi
}
if set_ CODEGRAPH_API_CPUS; then  # the production API's limit; its reservation is 1.0
  if [[ ! ${VAL[CODEGRAPH_API_CPUS]} =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
     awk -v c="${VAL[CODEGRAPH_API_CPUS]}" 'BEGIN { exit !(c < 1) }'; then
    problem CODEGRAPH_API_CPUS "must be a number of CPUs of at least 1 (the API's reservation) such as 2 or 1.5, got '${VAL[CODEGRAPH_API_CPUS]}'"
  else
    over_host CODEGRAPH_API_CPUS "${VAL[CODEGRAPH_API_CPUS]}"
  fi
fi
# the number of read-only replicas (codegraph-api); the indexer is always one
if set_ CODEGRAPH_REPLICAS && [[ ! ${VAL[CODEGRAPH_REPLICAS]} =~ ^[1-9][0-9]{0,2}$ ]]; then
  problem CODEGRAPH_REPLICAS "must be a number of replicas from 1 to 999 such as 2 or 3, got '${VAL[CODEGRAPH_REPLICAS]}'"
fi
# --- the development stack's own (docker-compose.dev.yml) --------------------------------
cpus_ok=1
for c in CODEGRAPH_DEV_CPUS CODEGRAPH_DEV_CPUS_RESERVED; do
  if set_ "$c" && { [[ ! ${VAL[$c]} =~ ^[0-9]+(\.[0-9]+)?$ ]] || [[ ${VAL[$c]} =~ ^0*(\.0*)?$ ]]; }; then
    problem "$c" "must be a number of CPUs above 0 such as 2 or 0.5, got '${VAL[$c]}'"
    cpus_ok=0
  fi
done
if [ "$cpus_ok" = 1 ]; then  # (the defaults as the compose file's)
  dev_cpus=${VAL[CODEGRAPH_DEV_CPUS]:-2} dev_reserved=${VAL[CODEGRAPH_DEV_CPUS_RESERVED]:-2}
  if awk -v r="$dev_reserved" -v l="$dev_cpus" 'BEGIN { exit !(r > l) }'; then
    problem CODEGRAPH_DEV_CPUS_RESERVED "($dev_reserved) must not exceed CODEGRAPH_DEV_CPUS ($dev_cpus)"
  fi
  [ "$DEV" = 0 ] || over_host CODEGRAPH_DEV_CPUS "$dev_cpus"
fi
for u in POSTGRES_USER POSTGRES_DB; do
  if set_ "$u" && [[ ! ${VAL[$u]} =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]]; then
    problem "$u" "must be a PostgreSQL name (a letter or _, then letters, digits, _; at most 63), got '${VAL[$u]}'"
  fi
done
if set_ REDIS_COMMANDER_USER && [[ ! ${VAL[REDIS_COMMANDER_USER]} =~ ^[A-Za-z0-9._@-]{1,64}$ ]]; then
  problem REDIS_COMMANDER_USER "must be a login name (letters, digits, . _ @ -; at most 64), got '${VAL[REDIS_COMMANDER_USER]}'"
fi
if set_ CODEGRAPH_PIP_TRUSTED_HOST; then
  read -ra pip_hosts <<<"${VAL[CODEGRAPH_PIP_TRUSTED_HOST]}"
  for h in "${pip_hosts[@]}"; do
    [[ $h =~ ^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,5})?$ ]] ||
      problem CODEGRAPH_PIP_TRUSTED_HOST "must be host names separated by spaces (such as \"pypi.org files.pythonhosted.org\"), got '$h'"
  done
fi
if [ "$DEV" = 1 ]; then  # two services on one host port: the second one fails to start
  declare -A dev_port_of
  for p in API_PORT:3000 REDIS_PORT:6379 POSTGRES_PORT:5432 JUPYTER_PORT:8888 ADMINER_PORT:8081 \
           REDIS_COMMANDER_PORT:8082 PROMETHEUS_PORT:9090 GRAFANA_PORT:3001; do
    name=${p%%:*} port=${VAL[${p%%:*}]:-${p#*:}}
    if [ -n "${dev_port_of[$port]:-}" ]; then
      problem "$name" "host port $port is also ${dev_port_of[$port]}'s"
    else
      dev_port_of[$port]=$name
    fi
  done
fi
if set_ CODEGRAPH_BIND_ADDRESS; then
  if ! is_ipv4 "${VAL[CODEGRAPH_BIND_ADDRESS]}"; then
    problem CODEGRAPH_BIND_ADDRESS "must be an IPv4 address of this host (default 127.0.0.1), got '${VAL[CODEGRAPH_BIND_ADDRESS]}'"
  elif [ "${VAL[CODEGRAPH_BIND_ADDRESS]}" = 0.0.0.0 ]; then
    warn CODEGRAPH_BIND_ADDRESS "0.0.0.0 publishes the stack on every interface: only behind a firewall"
  fi
fi
if set_ CODEGRAPH_SUBNET; then
  v=${VAL[CODEGRAPH_SUBNET]} addr=${VAL[CODEGRAPH_SUBNET]%/*} bits=${VAL[CODEGRAPH_SUBNET]#*/}
  if [[ $v != */* ]] || ! is_ipv4 "$addr" || [[ ! $bits =~ ^[0-9]{1,2}$ ]] || [ "$bits" -lt 8 ] || [ "$bits" -gt 29 ]; then
    problem CODEGRAPH_SUBNET "must be an IPv4 CIDR with a prefix of 8-29, such as 172.20.0.0/16, got '$v'"
  elif [ $(($(ipv4_int "$addr") & ((1 << (32 - bits)) - 1))) -ne 0 ]; then
    problem CODEGRAPH_SUBNET "has host bits set: '$v' is not a network address"
  fi
fi
if set_ CODEGRAPH_REPOS; then
  IFS=, read -ra repos <<<"${VAL[CODEGRAPH_REPOS]}"
  for r in "${repos[@]}"; do
    r=${r//[[:space:]]/}
    [ -z "$r" ] || [[ $r == /repos || $r == /repos/* ]] ||
      warn CODEGRAPH_REPOS "$r is not under /repos, where the stacks mount CODEGRAPH_REPOS_DIR"
  done
fi

# host directories, relative to the file's directory as Compose resolves them
base=$(cd "$(dirname "$FILE")" && pwd)
hostdir() { case $1 in /*) echo "$1" ;; *) echo "$base/${1#./}" ;; esac; }
repos_dir=$(hostdir "${VAL[CODEGRAPH_REPOS_DIR]:-./repos}")
[ -d "$repos_dir" ] || warn CODEGRAPH_REPOS_DIR "$repos_dir does not exist (Docker would create it, owned by root)"
if [ "$DEV" = 1 ]; then
  src_dir=$(hostdir "${VAL[CODEGRAPH_SRC]:-./src}")
  [ -f "$src_dir/codegraph/__init__.py" ] ||
    warn CODEGRAPH_SRC "no codegraph package in $src_dir: the dev API runs and hot-reloads the source mounted from there"
  notebooks_dir=$(hostdir "${VAL[CODEGRAPH_NOTEBOOKS_DIR]:-./deploy/jupyter/notebooks}")
  [ -d "$notebooks_dir" ] || warn CODEGRAPH_NOTEBOOKS_DIR "$notebooks_dir does not exist (Docker would create it, owned by root: Jupyter could not save there)"
fi
certs_dir=$(hostdir "${VAL[CODEGRAPH_CERTS_DIR]:-./deploy/certs}")
if [ ! -s "$certs_dir/tls.crt" ] || [ ! -s "$certs_dir/tls.key" ]; then
  warn CODEGRAPH_CERTS_DIR "no tls.crt and tls.key in $certs_dir: nginx will not start (scripts/dev-certs.sh makes self-signed ones)"
fi
perms=$(stat -c %a "$FILE" 2>/dev/null || echo 600)
[[ $perms =~ [0-7]00$ ]] || warn "$FILE" "mode $perms: other users can read the secrets (chmod 600 $FILE)"

# --- unknown variables --------------------------------------------------------------------
KNOWN=" NO_COLOR SERVER_HOST SERVER_PORT RUST_LOG CODEGRAPH_LOG_LEVEL CODEGRAPH_LOG_FORMAT ROCKSDB_PATH
FAISS_INDEX_PATH CODEGRAPH_DATA_DIR TOKIO_WORKER_THREADS CODEGRAPH_WORKERS ROCKSDB_BLOCK_CACHE_SIZE
OPENAI_API_KEY OPENAI_MODEL OPENAI_BASE_URL OPENAI_EMBEDDING_MODEL EMBEDDING_PROVIDER
EMBEDDING_MODEL_PATH CODEGRAPH_EMBED CODEGRAPH_EMBED_EXCLUDE CODEGRAPH_MAX_FILE_SIZE METRICS_PORT
PROMETHEUS_ENABLED
DEBUG_MODE HOT_RELOAD REDIS_URL CODEGRAPH_CACHE_TTL CODEGRAPH_CACHE_LOCAL_ENTRIES
CODEGRAPH_CACHE_LOCAL_BYTES CODEGRAPH_CACHE_MAX_ENTRY CODEGRAPH_API_KEY CODEGRAPH_ADMIN_TOKEN
CODEGRAPH_AUTH_READS CODEGRAPH_REPOS_ROOT CODEGRAPH_REPOS CODEGRAPH_WATCH CODEGRAPH_CORS_ORIGINS
CODEGRAPH_MAX_BODY CODEGRAPH_MAX_DEPTH CODEGRAPH_MAX_TOKENS CODEGRAPH_STALE_AFTER CODEGRAPH_MIN_REVISION_WAIT
CODEGRAPH_DRAIN_SECONDS CODEGRAPH_PROFILE_DIR CODEGRAPH_TRACEMALLOC CODEGRAPH_DEBUG
CODEGRAPH_BUILD_REVISION CODEGRAPH_BUILD_CREATED CODEGRAPH_BACKUP_DIR CODEGRAPH_ROLE
CODEGRAPH_SNAPSHOT_POLL CODEGRAPH_SNAPSHOT_GRACE CODEGRAPH_PUBLISH_INTERVAL CODEGRAPH_REPLICAS
REDIS_PASSWORD GRAFANA_ADMIN_USER GRAFANA_ADMIN_PASSWORD GRAFANA_ROOT_URL CODEGRAPH_TAG CODEGRAPH_BIND_ADDRESS
HTTP_PORT HTTPS_PORT CODEGRAPH_REPOS_DIR CODEGRAPH_CERTS_DIR CODEGRAPH_SUBNET CODEGRAPH_API_CPUS
COMPOSE_PROJECT_NAME COMPOSE_FILE COMPOSE_PROFILES
POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB JUPYTER_TOKEN REDIS_COMMANDER_USER REDIS_COMMANDER_PASSWORD
CODEGRAPH_DEV_TAG CODEGRAPH_SRC CODEGRAPH_DEV_CPUS CODEGRAPH_DEV_CPUS_RESERVED CODEGRAPH_JUPYTER_TAG
CODEGRAPH_PIP_TRUSTED_HOST CODEGRAPH_NOTEBOOKS_DIR GRAFANA_VERSION API_PORT REDIS_PORT POSTGRES_PORT
JUPYTER_PORT ADMINER_PORT REDIS_COMMANDER_PORT PROMETHEUS_PORT GRAFANA_PORT "
for name in "${!VAL[@]}"; do
  [[ $KNOWN == *[[:space:]]"$name"[[:space:]]* ]] ||
    warn "$name" "not a variable CodeGraph or its stacks read (a typo?)"
done

# --- the API's own check ------------------------------------------------------------------
checked_by=""
CG=()
if [ -n "${CODEGRAPH:-}" ]; then
  [ "$CODEGRAPH" = none ] || read -ra CG <<<"$CODEGRAPH"
elif command -v codegraph >/dev/null 2>&1; then
  CG=(codegraph)
elif [ -x "$(dirname "$0")/../.venv/bin/codegraph" ]; then
  CG=("$(dirname "$0")/../.venv/bin/codegraph")
fi
if [ ${#CG[@]} -gt 0 ]; then
  set +e
  err=$("${CG[@]}" check-config --env-file "$FILE" 2>&1 >/dev/null)
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    checked_by="; the API's settings checked by codegraph too"
  elif [ "$rc" = 2 ] && [[ $err == "codegraph: error: "* ]]; then
    msg=${err#codegraph: error: }
    var=${msg%%[ :]*}
    reported=0
    for p in "${PROBLEMS[@]}"; do [[ $p == "check-env: $FILE: $var:"* ]] && reported=1; done
    rest=${msg#"$var"}; rest=${rest#:}
    [ "$reported" = 1 ] || problem "$var" "${rest# } (codegraph check-config)"
  else
    warn codegraph "its check could not run (exit $rc): ${err%%$'\n'*}"
  fi
fi

if [ ${#PROBLEMS[@]} -gt 0 ]; then
  printf '%s\n' "${PROBLEMS[@]}" >&2
  exit 1
fi
echo "check-env: $FILE OK (${#VAL[@]} variables$checked_by)"
