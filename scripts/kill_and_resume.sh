#!/usr/bin/env bash
# Kill a pipeline run mid-way (SIGKILL), re-run it over the same output directory, and compare
# the result with an uninterrupted run: the rows must be identical and the re-run must reuse
# the translations the killed run had cached. Usage: scripts/kill_and_resume.sh [WORKDIR]
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
ARGS=(--target_languages=go,rust --sandbox="${SANDBOX:-bwrap}")
export HF_HUB_OFFLINE=1
rm -rf "$WORK/clean" "$WORK/killed"
$PY -m pipeline.run "${ARGS[@]}" --output="$WORK/clean" >"$WORK/clean.log" 2>&1 || { echo "clean run failed"; exit 1; }
$PY -m pipeline.run "${ARGS[@]}" --output="$WORK/killed" >"$WORK/killed1.log" 2>&1 &
pid=$!
n=0
for _ in $(seq 1 1200); do
  n=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from translations').fetchone()[0])" \
      "$WORK/killed/cache/translations/translations.sqlite" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 60 ] && break
  sleep 0.5
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
echo "killed after $n cached translations; published shards left by the killed run: $(ls "$WORK/killed/data" 2>/dev/null | wc -l)"
$PY -m pipeline.run "${ARGS[@]}" --output="$WORK/killed" >"$WORK/killed2.log" 2>&1
echo "re-run exit code $?"
$PY - "$WORK" <<'PY'
import glob, json, sys
import pyarrow.parquet as pq
work = sys.argv[1]
def rows(d):
    out = []
    for f in sorted(glob.glob(f"{d}/data/*.parquet")):
        out += [(r["pair_id"], r["language2"], r["func2"], r["split"], r["exec_status"]) for r in pq.read_table(f).to_pylist()]
    return sorted(out)
a, b = rows(f"{work}/clean"), rows(f"{work}/killed")
c = json.load(open(f"{work}/killed/stats.json"))["metrics"]["counters"]
print(f"uninterrupted rows {len(a)} | resumed rows {len(b)} | identical: {a == b}")
print(f"re-run: translation cache hits {c.get('translate/cache_hits', 0)}, misses {c.get('translate/cache_misses', 0)}")
sys.exit(0 if a == b else 1)
PY
