#!/usr/bin/env bash
# Load benchmark with public tools: nginx serves a ~120 KB page with the usual tracker embeds on
# loopback; wrk measures it directly and through consent-gate, side by side in one run:
#   1. nginx directly;
#   2. through consent-gate, full consent (pass-through, nothing rewritten);
#   3. through consent-gate, no consent (the page is rewritten).
# Usage: benches/load.sh [seconds per run, default 10] [connections, default 16]
# Needs nginx and wrk (installed with apt-get when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-16}"
for tool in nginx wrk; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "load.sh: installing $tool" >&2
    apt-get install -y -qq "$([ "$tool" = nginx ] && echo nginx-light || echo wrk)" >/dev/null
  fi
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v cmake >/dev/null 2>&1 || apt-get install -y -qq cmake >/dev/null
cargo build --release --locked -q

WORK="$(mktemp -d)"
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; kill "$CG_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN_PORT="$(free_port)"; PROXY_PORT="$(free_port)"; ADMIN_PORT="$(free_port)"

# The page: every vendor fixture in the head, then ~110 KB of ordinary markup.
mkdir -p "$WORK/www"
{
  echo '<!doctype html><html><head><meta charset="utf-8"><title>load</title>'
  cat tests/fixtures/vendors/*.html
  echo '</head><body>'
  for _ in $(seq 1 750); do
    echo '<article><h2>Product</h2><p>Lorem ipsum dolor sit amet, <a href="/p/1">consectetur</a> adipiscing elit.</p><img src="/img/p1.jpg" alt=""></article>'
  done
  echo '</body></html>'
} > "$WORK/www/index.html"

cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $WORK/www;
    default_type text/html;
    location / { add_header Set-Cookie "_ga=GA1.1.1; Path=/"; add_header Set-Cookie "sid=1; Path=/"; }
  }
}
CONF
"$NGINX" -c "$WORK/nginx.conf"

cat > "$WORK/config.toml" <<CONF
[server]
listen = ["127.0.0.1:$PROXY_PORT"]
threads = 1
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
pid_file = "$WORK/cg.pid"
upgrade_sock = "$WORK/cg.sock"
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[rules]
files = ["$PWD/conf/rules/open-cookie-database.toml", "$PWD/conf/rules/adguard-trackers.toml", "$PWD/conf/rules/curated.toml"]
[html]
compress = false
[[site]]
name = "load"
default = true
upstreams = ["127.0.0.1:$ORIGIN_PORT"]
CONF
RUST_LOG=error target/release/consent-gate run --config "$WORK/config.toml" 2>"$WORK/cg.log" &
CG_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null && break; sleep 0.1; done

run() { # label, url, extra header
  local out rps
  out="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" ${3:+-H "$3"} "$2")"
  rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  printf '%-44s %10s req/s   p50 %s\n' "$1" "$rps" "$(echo "$out" | awk '/Latency/ {print $2}')" >&2
  echo "$rps"
}
echo "page $(wc -c < "$WORK/www/index.html") bytes; ${DURATION}s per run, $CONNECTIONS connections, consent-gate on 1 thread" >&2
DIRECT="$(run "nginx directly" "http://127.0.0.1:$ORIGIN_PORT/")"
PASS="$(run "consent-gate, full consent (pass-through)" "http://127.0.0.1:$PROXY_PORT/" "Cookie: consent_gate=v1.functional:1.analytics:1.marketing:1")"
REWRITE="$(run "consent-gate, no consent (rewritten)" "http://127.0.0.1:$PROXY_PORT/")"
python3 - "$DIRECT" "$PASS" "$REWRITE" <<'PY'
import sys
d, p, r = (float(x) for x in sys.argv[1:])
print(f"ratios: pass-through/direct {p/d:.2f}, rewritten/direct {r/d:.2f}, rewritten/pass-through {r/p:.2f}")
PY
