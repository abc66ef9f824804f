#!/usr/bin/env bash
# The restore drill, as an operator runs it, with the installed `trialdesk` command:
#   demo -> audit checkpoint -> backup -> drop the database and move the key directories away -> restore
#   -> `audit verify --checkpoint` and `randomization verify` pass, and every table's row count matches.
# Usage: scripts/restore_drill.sh [POSTGRES_ADMIN_URL]   (SQLite always; PostgreSQL too when a URL is given)
set -euo pipefail
cd "$(dirname "$0")/.."
TD="${TRIALDESK_BIN:-.venv/bin/trialdesk}"
PY="${TRIALDESK_PYTHON:-.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TRIALDESK_DATA_DIR="$work/data" TRIALDESK_ARGON2_PROFILE=fast
unset TRIALDESK_RANDOMIZATION_SECRET TRIALDESK_AUDIT_KEY TRIALDESK_DATABASE_URL
printf 'a restore drill passphrase\n' >"$work/passphrase"

counts() {  # every table's row count, one "table rows" line each
  "$PY" - "$1" <<'PY'
import sys
from sqlalchemy import create_engine, func, inspect, select, table
from trialdesk.adapters.db.engine import resolve_url
engine = create_engine(resolve_url(sys.argv[1]))
with engine.connect() as conn:
    for name in sorted(inspect(conn).get_table_names()):
        print(name, conn.execute(select(func.count()).select_from(table(name))).scalar_one())
PY
}

drill() {
  local url="$1" drop="$2" label="$3"
  echo "restore drill ($label): demo"
  "$TD" demo --db "$url" --subjects 12 --seed 3 >/dev/null
  "$TD" audit checkpoint --db "$url" --out "$work/checkpoint-$label.json"
  counts "$url" >"$work/before-$label.txt"
  "$TD" backup "$work/$label.tdbackup" --db "$url" --passphrase-file "$work/passphrase"
  echo "restore drill ($label): drop the database, move the keys away"
  eval "$drop"
  mv "$TRIALDESK_DATA_DIR" "$work/data-moved-$label"
  "$TD" restore "$work/$label.tdbackup" --db "$url" --passphrase-file "$work/passphrase"
  counts "$url" >"$work/after-$label.txt"  # before the checks: `randomization verify` is itself audited
  diff -u "$work/before-$label.txt" "$work/after-$label.txt"
  "$TD" audit verify --db "$url" --checkpoint "$work/checkpoint-$label.json"
  "$TD" randomization verify --db "$url"
  echo "restore drill ($label): $(wc -l <"$work/after-$label.txt") tables, row counts match"
  rm -rf "$TRIALDESK_DATA_DIR"
}

drill "sqlite:///$work/drill.sqlite" 'rm -f "$work/drill.sqlite"' sqlite

if [ -n "${1:-}" ]; then
  admin="$1"
  name="trialdesk_drill_$$"
  pg="${admin%/*}/$name"
  psql -q "$admin" -c "CREATE DATABASE $name"
  trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1; rm -rf "$work"' EXIT
  drill "$pg" "psql -q \"$admin\" -c 'DROP DATABASE $name WITH (FORCE)' && psql -q \"$admin\" -c 'CREATE DATABASE $name'" postgresql
fi
echo "restore drill: passed"
