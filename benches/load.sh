#!/usr/bin/env bash
# Load benchmark with public tools (nginx, wrk), side by side in one run on loopback.
#
# An nginx origin serves five pages: a large page (~290 KB, the vendors' published tags in the
# head and article markup), a home page (~120 KB), a 1 KB page, 135 KB of JSON, and a ~120 KB page
# whose body changes on every request (an SSI request id, so no memo can help). In front of it,
# each with one worker:
#   nginx proxy            plain reverse proxy (buffers sized so nothing spills to disk)
#   nginx sub_filter       the same with 5 literal sub_filter replacements on HTML
#   nginx sub_filter gzip  the same, compressing for the client (gzip level 1)
#   consent-gate off       a site in mode "off"
#   consent-gate pass      enforce mode with full consent (nothing to rewrite)
#   consent-gate rewrite   enforce mode, no consent: trackers neutralized (memo on: a repeated
#                          page is a memo hit; the changing page is rewritten every time)
#   consent-gate gzip      rewriting, compressing for the client (gzip level 1)
# and prints requests/s, p99 latency and the ratios the sizing guide quotes.
#
# Usage: benches/load.sh [seconds per run, default 10] [connections, default 16]
# Needs nginx and wrk (installed with apt-get when missing, as root) and cmake for the build.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-16}"
for tool in nginx wrk; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "load.sh: installing $tool" >&2
    apt-get install -y -qq "$tool" >/dev/null
  fi
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v cmake >/dev/null 2>&1 || apt-get install -y -qq cmake >/dev/null
cargo build --release --locked -q

WORK="$(mktemp -d)"
cleanup() {
  for pid in "$WORK"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
  kill "${CG_PID:-}" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN="$(free_port)"; PROXY="$(free_port)"; SUB="$(free_port)"; SUBGZ="$(free_port)"
CG="$(free_port)"; ADMIN="$(free_port)"

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
nginx_conf origin "$ORIGIN" "root $WORK/www; location = /changing.html { ssi on; } location / { add_header Set-Cookie \"_ga=GA1.1.1; Path=/\"; add_header Set-Cookie \"sid=1; Path=/\"; }"
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
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.1; done

# --- runs -------------------------------------------------------------------------------
ALL="Cookie: consent_gate=v1.functional:1.analytics:1.marketing:1"
declare -A RPS
run() { # key, url, [header...]
  local key="$1" url="$2"; shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  local out
  out="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${args[@]}" "$url")"
  local rps p99
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
  RPS[$key]="$rps"
  printf '  %-26s %10s req/s   p99 %s\n' "$key" "$rps" "$p99"
}
ID="Accept-Encoding: identity"
GZ="Accept-Encoding: gzip"
echo "${DURATION}s per run, $CONNECTIONS connections, one worker each; pages: $(cd "$WORK/www" && wc -c large.html home.html small.html data.json changing.html | head -5 | awk '{printf "%s %s B; ", $2, $1}')"
for p in large home small data changing; do
  f="$p.html"; [ "$p" = data ] && f=data.json
  echo "$f"
  run "$p nginx proxy" "http://127.0.0.1:$PROXY/$f" "$ID"
  [ "$p" = data ] || run "$p nginx sub_filter" "http://127.0.0.1:$SUB/$f" "$ID"
  [ "$p" = data ] || run "$p nginx sub_filter gzip" "http://127.0.0.1:$SUBGZ/$f" "$GZ"
  run "$p cg off" "http://127.0.0.1:$CG/$f" "$ID" "Host: off.test"
  run "$p cg pass-through" "http://127.0.0.1:$CG/$f" "$ID" "$ALL"
  [ "$p" = data ] || run "$p cg rewrite" "http://127.0.0.1:$CG/$f" "$ID"
  [ "$p" = data ] || run "$p cg rewrite gzip" "http://127.0.0.1:$CG/$f" "$GZ"
done
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^consent_gate_memo_lookups_total.*site="load"' | sed 's/^/  /' || true

echo "ratios (1.0 = as fast as the nginx reference):"
ratio() { python3 -c "import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 1); print(f'{a/b:.2f}')" "${RPS[$1]:-0}" "${RPS[$2]:-1}"; }
for p in large home small data changing; do
  printf '  %-9s pass-through/nginx proxy %s   off/nginx proxy %s' "$p" "$(ratio "$p cg pass-through" "$p nginx proxy")" "$(ratio "$p cg off" "$p nginx proxy")"
  if [ "$p" != data ]; then
    printf '   rewrite/sub_filter %s   rewrite gzip/sub_filter gzip %s' "$(ratio "$p cg rewrite" "$p nginx sub_filter")" "$(ratio "$p cg rewrite gzip" "$p nginx sub_filter gzip")"
  fi
  echo
done
