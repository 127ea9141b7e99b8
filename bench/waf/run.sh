#!/usr/bin/env bash
# WAF benchmark (issue 5): the same benign GET (5 query args) and ~1 KB urlencoded POST through
#   anchor    nginx + libmodsecurity3 + Debian CRS 3.3 PL1 blocking (../shared/bench/waf-anchors)
#   edge      `triplane edge --workers 1`, no WAF
#   edge+crs  `triplane edge --workers 1`, CRS PL1 blocking (waf: { mode: block, paranoia: 1 })
# all proxying (cache off) to the anchor's return-200 nginx origin, one process each, same run.
#
#   bench/waf/run.sh                      (wrk -t2 -c32 -d10s)
#   DURATION=20s CONNS=64 bench/waf/run.sh
# Needs: nginx libnginx-mod-http-modsecurity modsecurity-crs wrk curl, and ../shared.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ANCHORS="${ANCHORS:-$ROOT/../shared/bench/waf-anchors}"
DURATION="${DURATION:-10s}"; CONNS="${CONNS:-32}"; THREADS="${THREADS:-2}"
for bin in nginx wrk curl; do command -v "$bin" >/dev/null || { echo "missing: $bin" >&2; exit 1; }; done
[ -f /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || { echo "missing: libnginx-mod-http-modsecurity" >&2; exit 1; }
export PATH="$ROOT/.toolchain/node-v$(cat "$ROOT/.nvmrc")/bin:$PATH"

RUN="$(mktemp -d -t waf-bench.XXXXXX)"; chmod 755 "$RUN"
PIDS=()
cleanup() {
  [ -f "$RUN/anchor/nginx.pid" ] && kill "$(cat "$RUN/anchor/nginx.pid")" 2>/dev/null || true
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  sleep 1; rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

bash "$ANCHORS/anchor-nginx-modsec.sh" "$RUN/anchor" 19290 crs-pl1.conf   # origin on 19291
start_edge() { # name port waf-yaml
  cat > "$RUN/$1.yaml" <<YAML
listen: { http: "127.0.0.1:$2" }
sites:
  - name: bench
    hosts: ["*"]
    upstreams: ["http://127.0.0.1:19291"]
    cache: { profile: "off" }
$3
YAML
  TRIPLANE_LOG_LEVEL=warn "$ROOT/apps/triplane/bin/triplane" edge --config "$RUN/$1.yaml" --workers 1 >"$RUN/$1.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 100); do grep -q 'edge: listening' "$RUN/$1.log" && return 0; sleep 0.1; done
  cat "$RUN/$1.log" >&2; exit 1
}
start_edge edge 19292 ""
start_edge edgecrs 19293 "    waf: { mode: block, paranoia: 1, log: \"$RUN/edgecrs-waf.log\" }"

URL_PATH='/search?q=running+shoes&page=2&sort=price&color=blue&size=42'
# sanity: benign requests pass everywhere, an attack is refused by both WAFs
for p in 19290 19292 19293; do
  printf 'port %s: GET %s  POST %s  attack %s\n' "$p" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.example.com' "http://127.0.0.1:$p$URL_PATH")" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.example.com' --data 'name=Jane&city=London' "http://127.0.0.1:$p/checkout")" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.example.com' "http://127.0.0.1:$p/?id=1%27%20OR%20%271%27=%271")"
done

printf '\n%-10s %-5s %10s %9s %9s %12s\n' target req req/s p50 p99 "÷ anchor"
declare -A RPS
for req in get post; do
  for t in anchor:19290 edge:19292 edgecrs:19293; do
    name=${t%%:*}; port=${t##*:}
    out="$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$ANCHORS/$req.lua" "http://127.0.0.1:$port$URL_PATH")"
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    RPS[$name$req]=$rps
    ratio=$(awk -v a="$rps" -v b="${RPS[anchor$req]}" 'BEGIN {printf "%.2f", a/b}')
    printf '%-10s %-5s %10s %9s %9s %12s %s\n' "$name" "$req" "$rps" "$p50" "$p99" "$ratio" "${non2xx:+non-2xx: $non2xx}"
  done
done
