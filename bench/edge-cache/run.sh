#!/usr/bin/env bash
# Edge cache-hit benchmark: the shared anchor benchmark (nginx origin, Varnish 7.1, nginx
# proxy_cache, all started by ../shared/bench/cache-anchors/bench.sh) with `triplane edge`
# added as one more target on 127.0.0.1:19084, in front of the same origin, same run.
#
#   bench/edge-cache/run.sh                 (wrk -t2 -c64 -d10s, one round)
#   ROUNDS=3 DURATION=10s bench/edge-cache/run.sh
# Needs: nginx, varnish, wrk, curl (apt-get install nginx varnish wrk curl) and ../shared.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ANCHOR="${ANCHOR:-$ROOT/../shared/bench/cache-anchors/bench.sh}"
[ -x "$ANCHOR" ] || [ -f "$ANCHOR" ] || { echo "anchor benchmark not found: $ANCHOR" >&2; exit 1; }
export PATH="$ROOT/.toolchain/node-v$(cat "$ROOT/.nvmrc")/bin:$PATH"

RUN="$(mktemp -d -t edge-bench.XXXXXX)"
cat > "$RUN/edge.yaml" <<YAML
listen: { http: "127.0.0.1:19084" }
cache: { maxBytes: 268435456 }
sites:
  - name: bench
    hosts: ["*"]
    upstreams: ["http://127.0.0.1:19081"]
    cache: { profile: generic }
YAML
TRIPLANE_LOG_LEVEL="${TRIPLANE_LOG_LEVEL:-warn}" "$ROOT/apps/triplane/bin/triplane" edge --config "$RUN/edge.yaml" >"$RUN/edge.log" 2>&1 &
EDGE_PID=$!
cleanup() {
  kill -TERM "$EDGE_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$EDGE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$EDGE_PID" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do grep -q 'edge: listening' "$RUN/edge.log" && break; sleep 0.1; done
grep -q 'edge: listening' "$RUN/edge.log" || { cat "$RUN/edge.log" >&2; exit 1; }
echo "started: triplane edge pid=$EDGE_PID on 127.0.0.1:19084"

# Warm the edge once the anchor's origin is up (the anchor script only warms its own caches).
( for _ in $(seq 1 100); do
    curl -fsS -o /dev/null http://127.0.0.1:19081/page.html 2>/dev/null && break; sleep 0.1
  done
  for f in page.html image.jpg; do curl -s -o /dev/null "http://127.0.0.1:19084/$f"; done ) &

TARGETS="${TARGETS:-origin:19081 varnish:19082 proxycache:19083 triplane:19084}" bash "$ANCHOR"
# primary + its worker processes (one per core)
ps -o rss= --pid "$EDGE_PID" --ppid "$EDGE_PID" | awk '{s+=$1; n++} END {printf "triplane edge RSS after the run: %.0f MiB (%d processes: primary + workers)\n", s/1024, n}'
