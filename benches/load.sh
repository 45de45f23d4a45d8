#!/usr/bin/env bash
# Load benchmark with public tools (nginx, wrk), side by side in one run on loopback.
#
# An nginx origin serves six pages: a large page (~360 KB, the vendors' published tags in the
# head and article markup), a home page (~120 KB), a 1 KB page, ~180 KB of JSON, and the home
# page and the 1 KB page with a body that changes on every request (an SSI request id, so no
# memo can help). In front of it, each with one worker:
#   nginx proxy            plain reverse proxy (buffers sized so nothing spills to disk)
#   nginx sub_filter       the same with 5 literal sub_filter replacements on HTML
#   nginx sub_filter gzip  the same, compressing for the client (gzip level 1)
#   pingora, no hooks      examples/bare_proxy.rs: Pingora with nothing added, the floor of
#                          any proxy built on it (tells Pingora's cost from consent-gate's)
#   consent-gate off       a site in mode "off"
#   consent-gate pass      enforce mode with full consent (nothing to rewrite)
#   consent-gate rewrite   enforce mode, no consent: trackers neutralized (memo on: a repeated
#                          page is a memo hit; a changing page is rewritten every time)
#   consent-gate gzip      rewriting, compressing for the client (gzip level 1)
# First each runs as fast as it can (requests/s, p99); then nginx and consent-gate run again
# at half of their own maximum rate (benches/paced.lua), where latency is what a visitor sees
# on a loaded but not saturated proxy. Prints the ratios the sizing guide quotes.
#
# Usage: benches/load.sh [seconds per run, default 10] [connections, default 16]
#        benches/load.sh instructions [requests, default 1000]
# The second form counts instead of timing: each proxy runs under valgrind's callgrind, gets
# 100 warm-up requests and then the given number one after another on one kept-alive
# connection, and the user-space instructions it executed for them are divided by their
# number. The count repeats to within about 1% whatever else the machine is doing, so it tells
# small per-request changes apart where requests/s on a shared 2-core machine swing by 10-20%.
# It leaves out kernel time (the same socket calls for every proxy here) and counts a
# `rep movsb` copy once per byte, so it weighs large memory copies more than time does.
# Needs nginx and wrk (installed with apt-get when missing, as root; valgrind too for the
# second form) and cmake for the build.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=load
if [ "${1:-}" = instructions ]; then
  MODE=instructions
  REQUESTS="${2:-1000}"
  set --
fi
DURATION="${1:-10}"
CONNECTIONS="${2:-16}"
TOOLS="nginx wrk"
[ "$MODE" = instructions ] && TOOLS="nginx valgrind"
for tool in $TOOLS; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "load.sh: installing $tool" >&2
    apt-get install -y -qq "$tool" >/dev/null
  fi
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v cmake >/dev/null 2>&1 || apt-get install -y -qq cmake >/dev/null
cargo build --release --locked -q --bin consent-gate --example bare_proxy

WORK="$(mktemp -d)"
cleanup() {
  for pid in "$WORK"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
  kill "${CG_PID:-}" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# Free loopback ports, all held open together while they are picked so no two are the same.
free_ports() {
  python3 -c 'import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
}
read -r ORIGIN PROXY SUB SUBGZ CG ADMIN BARE VG_PORT VG_ADMIN <<< "$(free_ports 9)"

# --- pages ------------------------------------------------------------------------------
mkdir -p "$WORK/www"
article() {
  for _ in $(seq 1 "$1"); do
    echo '<article class="teaser"><h2><a href="/news/2026/12/a-long-headline-about-something">A long headline about something that happened</a></h2><p class="lede">Lorem ipsum dolor sit amet, <a href="/p/1">consectetur</a> adipiscing elit, sed do eiusmod tempor incididunt ut labore.</p><img src="/img/p1.jpg" srcset="/img/p1@2x.jpg 2x" alt="" loading="lazy" width="320" height="180"></article>'
  done
}
page() { # teasers
  echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>load</title>'
  echo '<link rel="stylesheet" href="/css/site.css"><script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle","headline":"x"}</script>'
  cat tests/fixtures/vendors/*.html
  echo '</head><body><header><nav>'
  for i in $(seq 1 40); do echo "<a href=\"/section/$i\">Section $i</a>"; done
  echo '</nav></header><main>'
  article "$1"
  echo '<script>window.siteConfig = {lazy: true, theme: "light"};</script></main></body></html>'
}
page 900 > "$WORK/www/large.html"
page 290 > "$WORK/www/home.html"
{ echo '<!doctype html><html><head><meta charset="utf-8"><title>small</title>'
  echo '<script async src="https://www.googletagmanager.com/gtag/js?id=G-XXXX"></script>'
  echo '</head><body><h1>Hello</h1><p>A small page with one analytics tag and a little text, as error pages and'
  echo 'redirect targets are: short, frequent, and rewritten like any other page.</p>'
  printf '<p>%s</p>' "$(head -c 500 /dev/zero | tr '\0' 'x')"
  echo '</body></html>'; } > "$WORK/www/small.html"
python3 -c '
import json
items=[{"id":i,"title":"A long headline about something","url":"/news/%d"%i,"tags":["a","b","c"],"score":i*1.5} for i in range(1500)]
print(json.dumps({"items":items}))' > "$WORK/www/data.json"
# The changing page: SSI puts a new request id in every response.
sed 's|<main>|<main><p>request <!--# echo var="request_id" --></p>|' "$WORK/www/home.html" > "$WORK/www/changing.html"
sed 's|<h1>Hello</h1>|<h1>Hello</h1><p>request <!--# echo var="request_id" --></p>|' "$WORK/www/small.html" > "$WORK/www/changing-small.html"

# --- nginx: origin and the three nginx front ends ------------------------------------------
SUBS='sub_filter "googletagmanager.com" "blocked.invalid"; sub_filter "connect.facebook.net" "blocked.invalid"; sub_filter "static.hotjar.com" "blocked.invalid"; sub_filter "snap.licdn.com" "blocked.invalid"; sub_filter "analytics.tiktok.com" "blocked.invalid"; sub_filter_once off; sub_filter_types text/html;'
nginx_conf() { # name, port, location body
  cat > "$WORK/$1.conf" <<CONF
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  include /etc/nginx/mime.types;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; }
  server {
    listen 127.0.0.1:$2 reuseport backlog=4096;
    $3
  }
}
CONF
  "$NGINX" -c "$WORK/$1.conf"
}
PROXYING='proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Accept-Encoding ""; proxy_buffers 64 16k; proxy_busy_buffers_size 64k; proxy_max_temp_file_size 0;'
nginx_conf origin "$ORIGIN" "root $WORK/www; location ~ ^/changing { ssi on; } location / { add_header Set-Cookie \"_ga=GA1.1.1; Path=/\"; add_header Set-Cookie \"sid=1; Path=/\"; }"
nginx_conf proxy "$PROXY" "location / { proxy_pass http://origin; $PROXYING }"
nginx_conf sub "$SUB" "location / { proxy_pass http://origin; $PROXYING $SUBS }"
nginx_conf subgz "$SUBGZ" "location / { proxy_pass http://origin; $PROXYING $SUBS gzip on; gzip_comp_level 1; gzip_types text/html application/json; }"

# --- consent-gate -----------------------------------------------------------------------
cat > "$WORK/config.toml" <<CONF
[server]
listen = ["127.0.0.1:$CG"]
threads = 1
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
pid_file = "$WORK/cg.pid.txt"
upgrade_sock = "$WORK/cg.sock"
[admin]
listen = "127.0.0.1:$ADMIN"
[rules]
files = ["$PWD/conf/rules/open-cookie-database.toml", "$PWD/conf/rules/adguard-trackers.toml", "$PWD/conf/rules/curated.toml"]
[[site]]
name = "off"
hosts = ["off.test"]
mode = "off"
upstreams = ["127.0.0.1:$ORIGIN"]
[[site]]
name = "load"
default = true
upstreams = ["127.0.0.1:$ORIGIN"]
CONF
RUST_LOG=error target/release/consent-gate run --config "$WORK/config.toml" 2>"$WORK/cg.log" &
CG_PID=$!
target/release/examples/bare_proxy "127.0.0.1:$BARE" "127.0.0.1:$ORIGIN" 2>"$WORK/bare.log" &
echo $! > "$WORK/bare.pid"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$BARE/small.html" >/dev/null && break; sleep 0.1; done

# --- runs -------------------------------------------------------------------------------
ALL="Cookie: consent_gate=v1.functional:1.analytics:1.marketing:1"
ID="Accept-Encoding: identity"

if [ "$MODE" = instructions ]; then
  counted() { # name, command..., then after "--": path, [header...]
    local name="$1"; shift
    local cmd=()
    while [ "$1" != -- ]; do cmd+=("$1"); shift; done
    shift
    local path="$1"; shift
    local args=(-H "$ID")
    for h in "$@"; do args+=(-H "$h"); done
    local out="$WORK/callgrind-${name//[^a-z0-9-]/_}"
    RUST_LOG=error valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" 2>"$out.log" &
    local pid=$!
    for _ in $(seq 1 300); do curl -sf -o /dev/null "${args[@]}" "http://$VG_ADDR$path" && break; sleep 0.2; done
    for i in $(seq 1 100); do echo "url = \"http://$VG_ADDR$path\""; echo "output = /dev/null"; done > "$WORK/urls-warm"
    for i in $(seq 1 "$REQUESTS"); do echo "url = \"http://$VG_ADDR$path\""; echo "output = /dev/null"; done > "$WORK/urls"
    curl -s "${args[@]}" -K "$WORK/urls-warm"
    callgrind_control -z "$pid" >/dev/null
    curl -s "${args[@]}" -K "$WORK/urls"
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local total
    total="$(awk '/^summary:/ && !seen {print $2; seen = 1}' "$out".*)"
    rm -f "$out" "$out".[0-9]*
    python3 -c "import sys; print(f'  {sys.argv[1]:<36} {int(sys.argv[2]) / int(sys.argv[3]):>10,.0f} instructions/request')" "$name" "$total" "$REQUESTS"
  }
  VG_ADDR="127.0.0.1:$VG_PORT"
  sed -e "s/127.0.0.1:$CG\"/$VG_ADDR\"/" -e "s/127.0.0.1:$ADMIN\"/127.0.0.1:$VG_ADMIN\"/" \
    -e "s|cg.pid.txt|vg.pid.txt|" -e "s|cg.sock|vg.sock|" "$WORK/config.toml" > "$WORK/vg.toml"
  CGVG=(target/release/consent-gate run --config "$WORK/vg.toml")
  echo "user-space instructions per request under callgrind ($REQUESTS requests, one connection):"
  for p in small home; do
    changing=changing-small; [ "$p" = home ] && changing=changing
    counted "$p pingora, no hooks" target/release/examples/bare_proxy "$VG_ADDR" "127.0.0.1:$ORIGIN" -- "/$p.html"
    counted "$p cg off" "${CGVG[@]}" -- "/$p.html" "Host: off.test"
    counted "$p cg pass-through" "${CGVG[@]}" -- "/$p.html" "$ALL"
    counted "$p cg rewrite (memo)" "${CGVG[@]}" -- "/$p.html"
    counted "$changing cg rewrite" "${CGVG[@]}" -- "/$changing.html"
  done
  exit 0
fi
declare -A RPS P99 URL HDR
wrk1() { wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@"; }
ms() { # a wrk latency (us, ms or s) in milliseconds
  echo "$1" | awk '/us$/ {sub(/us$/, ""); printf "%.2f", $0 / 1000; exit}
                   /ms$/ {sub(/ms$/, ""); printf "%.2f", $0; exit}
                   /s$/ {sub(/s$/, ""); printf "%.2f", $0 * 1000}'
}
run() { # key, url, [header...]
  local key="$1" url="$2"; shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  URL[$key]="$url"; HDR[$key]="$(printf '%s\n' "$@")"
  local out
  out="$(wrk1 "${args[@]}" "$url")"
  RPS[$key]="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  P99[$key]="$(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
  printf '  %-30s %10s req/s   p99 %6s ms\n' "$key" "${RPS[$key]}" "${P99[$key]}"
}
declare -A PACED
paced() { # key: rerun at half of its measured maximum rate, record p99
  local key="$1" rate args=()
  rate="$(python3 -c "import sys; print(max(1, int(float(sys.argv[1] or 0) / 2)))" "${RPS[$key]:-0}")"
  while IFS= read -r h; do [ -n "$h" ] && args+=(-H "$h"); done <<< "${HDR[$key]}"
  local out
  out="$(wrk1 "${args[@]}" -s benches/paced.lua "${URL[$key]}" -- "$rate")"
  PACED[$key]="$(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
  printf '  %-30s at %7s req/s: p99 %6s ms (achieved %s req/s)\n' "$key" "$rate" "${PACED[$key]}" "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
}
GZ="Accept-Encoding: gzip"
PAGES="large home small data changing changing-small"
file() { case "$1" in data) echo data.json ;; *) echo "$1.html" ;; esac; }
echo "${DURATION}s per run, $CONNECTIONS connections, one worker each; pages: $(cd "$WORK/www" && wc -c large.html home.html small.html data.json changing.html changing-small.html | head -6 | awk '{printf "%s %s B; ", $2, $1}')"
for p in $PAGES; do
  f="$(file "$p")"
  echo "$f"
  run "$p nginx proxy" "http://127.0.0.1:$PROXY/$f" "$ID"
  [ "$p" = data ] || run "$p nginx sub_filter" "http://127.0.0.1:$SUB/$f" "$ID"
  [ "$p" = data ] || run "$p nginx sub_filter gzip" "http://127.0.0.1:$SUBGZ/$f" "$GZ"
  run "$p pingora, no hooks" "http://127.0.0.1:$BARE/$f" "$ID"
  run "$p cg off" "http://127.0.0.1:$CG/$f" "$ID" "Host: off.test"
  run "$p cg pass-through" "http://127.0.0.1:$CG/$f" "$ID" "$ALL"
  [ "$p" = data ] || run "$p cg rewrite" "http://127.0.0.1:$CG/$f" "$ID"
  [ "$p" = data ] || run "$p cg rewrite gzip" "http://127.0.0.1:$CG/$f" "$GZ"
done
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^consent_gate_memo_lookups_total.*site="load"' | sed 's/^/  /' || true

echo "latency at half of each one's maximum rate:"
for p in $PAGES; do
  paced "$p nginx proxy"
  paced "$p cg pass-through"
  if [ "$p" != data ]; then
    paced "$p nginx sub_filter"
    paced "$p cg rewrite"
  fi
done

echo "ratios (1.0 = as fast as the nginx reference):"
ratio() { python3 -c "import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 1); print(f'{a/b:.2f}')" "${RPS[$1]:-0}" "${RPS[$2]:-1}"; }
above() { python3 -c "import sys; a, b = sys.argv[1], sys.argv[2]; print(f'{float(a)-float(b):+.2f} ms' if a and b else 'n/a')" "${PACED[$1]:-}" "${PACED[$2]:-}"; }
for p in $PAGES; do
  printf '  %-15s pass-through/nginx proxy %s   off/nginx proxy %s   pingora floor/nginx proxy %s' "$p" "$(ratio "$p cg pass-through" "$p nginx proxy")" "$(ratio "$p cg off" "$p nginx proxy")" "$(ratio "$p pingora, no hooks" "$p nginx proxy")"
  if [ "$p" != data ]; then
    printf '   rewrite/sub_filter %s   rewrite gzip/sub_filter gzip %s' "$(ratio "$p cg rewrite" "$p nginx sub_filter")" "$(ratio "$p cg rewrite gzip" "$p nginx sub_filter gzip")"
  fi
  echo
done
echo "p99 at half rate, consent-gate minus nginx:"
for p in $PAGES; do
  printf '  %-15s pass-through vs proxy %s' "$p" "$(above "$p cg pass-through" "$p nginx proxy")"
  [ "$p" = data ] || printf '   rewrite vs sub_filter %s' "$(above "$p cg rewrite" "$p nginx sub_filter")"
  echo
done
