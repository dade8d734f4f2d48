#!/usr/bin/env bash
# Schemathesis against the admin API's own OpenAPI document (/api/v1/openapi.json): every check,
# a fixed seed, a bounded number of examples and a time limit. Starts a throwaway stack with
# `npm start`'s launcher (Temporal dev server, worker, API in sandbox mode) on free loopback ports,
# on a fresh database (a new one on DATABASE_URL's server when set, else embedded PGlite), and
# exits non-zero when Schemathesis finds anything.
#
# Schemathesis is installed with pip into a virtualenv outside the clone
# (~/.cache/tandem/schemathesis-<version>, TANDEM_CACHE_DIR moves ~/.cache/tandem).
# Knobs: SCHEMATHESIS_MAX_EXAMPLES (default 30), SCHEMATHESIS_MAX_TIME seconds (default 240),
# SCHEMATHESIS_SEED (default 20261202). Configuration: scripts/schemathesis.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
cache="${TANDEM_CACHE_DIR:-$HOME/.cache/tandem}"
venv="$cache/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -f "$venv/.installed" ]; then
  echo "schemathesis: installing $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv "$venv"; then
    # A bare Debian: Python with venv from Debian's packages.
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3 python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  touch "$venv/.installed"
fi

work=$(mktemp -d)
stack_pid=""
database=""
cleanup() {
  local status=$?
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$stack_pid" 2>/dev/null || true
  fi
  if [ -n "$database" ]; then
    node -e '
      const pg = require("pg");
      const c = new pg.Client({ connectionString: process.argv[1] });
      c.connect().then(() => c.query(`drop database if exists ${process.argv[2]} with (force)`)).finally(() => c.end());
    ' "$DATABASE_URL" "$database" || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/stack.log" ]; then
    echo "schemathesis: the stack's log (last 40 lines):"
    grep -vF "$admin_token" "$work/stack.log" | tail -n 40
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

free_port() { npx --no-install tsx -e 'import("./scripts/free-port.ts").then(async (m) => console.log(await m.freePort()))'; }
api_port=$(free_port)
temporal_port=$(free_port)
ui_port=$(free_port)
admin_token=$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')

stack_env=(
  NODE_ENV=development
  LOG_LEVEL=warn
  HOST=127.0.0.1
  PORT="$api_port"
  TEMPORAL_PORT="$temporal_port"
  TEMPORAL_UI_PORT="$ui_port"
  TANDEM_DATA_DIR="$work/data"
  TANDEM_ADMIN_TOKEN="$admin_token"
  TANDEM_SANDBOX=true
  # One client hammers the API from one address: budgets far above what the run spends, so a 429
  # (documented on every route) never stands in for the answer a check expects.
  RATE_LIMIT_API=1000000
  RATE_LIMIT_SIGN_IN=1000000
)
if [ -n "${DATABASE_URL:-}" ]; then
  database="tandem_schemathesis_$(node -e 'console.log(require("crypto").randomBytes(6).toString("hex"))')"
  node -e '
    const pg = require("pg");
    const c = new pg.Client({ connectionString: process.argv[1] });
    c.connect().then(() => c.query(`create database ${process.argv[2]}`)).finally(() => c.end());
  ' "$DATABASE_URL" "$database"
  stack_env+=(DATABASE_URL="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "$DATABASE_URL" "$database")")
else
  stack_env+=(DATABASE_URL=)
fi

echo "schemathesis: starting the stack (API on 127.0.0.1:$api_port)"
env "${stack_env[@]}" npx --no-install tsx scripts/dev.ts >"$work/stack.log" 2>&1 &
stack_pid=$!
base="http://127.0.0.1:$api_port"
for _ in $(seq 1 180); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$stack_pid" 2>/dev/null; then echo "schemathesis: the stack exited before it was ready"; exit 1; fi
  sleep 1
done
curl -fsS "$base/readyz" >/dev/null

echo "schemathesis: running $("$venv/bin/schemathesis" --version)"
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" \
  --checks all \
  --seed "${SCHEMATHESIS_SEED:-20261202}" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-240}" \
  --workers 1 \
  --request-timeout 30 \
  --generation-database none \
  --no-color \
  -H "Authorization: Bearer $admin_token"
