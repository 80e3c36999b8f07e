#!/usr/bin/env bash
# taut-fetch over https against nginx with TLS (certificates made here with the openssl CLI: a CA
# and a localhost/127.0.0.1 certificate; no key is committed): --cacert, the system store's
# refusal printed plainly, --insecure, an unreadable CA file, -n/-c reusing TLS connections; and
# taut-serve --proxy https://... --proxy-cacert in front of the same nginx.
# Usage: taut_fetch_tls_test.sh TAUT_FETCH TAUT_SERVE. Exit 77 (skipped) without nginx, openssl or
# a TLS build. Bounded in time; it kills only the processes it started.
set -uo pipefail

fetch_bin=$1
server_bin=$2
# shellcheck source=tests/shell_checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shell_checks.sh"
nginx_pid=
serve_pid=
scratch_with_cleanup taut-fetch-tls nginx_pid serve_pid
chmod 755 "$scratch"

nginx_bin=$(command -v nginx || true)
[[ -z $nginx_bin && -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx
[[ -n $nginx_bin ]] || { echo "skipped: nginx is not installed (apt-get install nginx-light)"; exit 77; }
command -v openssl >/dev/null || { echo "skipped: no openssl command"; exit 77; }
probe=$("$fetch_bin" --timeout 2s --cacert /dev/null https://127.0.0.1:1/ 2>&1)
if [[ $probe == *"TLS is not available"* ]]; then
  echo "skipped: taut was built without TLS"
  exit 77
fi

fetch() { "$fetch_bin" --timeout 5s "$@"; }

# A CA and a certificate it signs for localhost and 127.0.0.1 (ECDSA P-256).
(
  cd "$scratch" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
      -out ca.pem -days 2 -subj "/CN=taut test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
      -out cert.csr -subj "/CN=localhost" &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf &&
    openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem \
      -days 2 -extfile ext.cnf &&
    chmod 644 key.pem
) >"$scratch/openssl.log" 2>&1 || { cat "$scratch/openssl.log" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=""
[[ $(id -u) -eq 0 ]] && user="user nobody nogroup;"
cat >"$scratch/nginx.conf" <<CONF
$user
worker_processes 1;
daemon off;
master_process off;
pid $scratch/nginx.pid;
error_log $scratch/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $scratch/body;
  proxy_temp_path $scratch/proxy;
  fastcgi_temp_path $scratch/fastcgi;
  uwsgi_temp_path $scratch/uwsgi;
  scgi_temp_path $scratch/scgi;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $scratch/cert.pem;
    ssl_certificate_key $scratch/key.pem;
    location = /hello { default_type text/plain; return 200 "hello nginx"; }
  }
}
CONF
"$nginx_bin" -p "$scratch" -c "$scratch/nginx.conf" >/dev/null 2>&1 &
# shellcheck disable=SC2034 # cleanup_scratch kills it by this name
nginx_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
base="https://127.0.0.1:$port"

check "--cacert body" "hello nginx" "$(fetch --cacert "$scratch/ca.pem" "$base/hello")"
check "--cacert by name" "hello nginx" "$(fetch --cacert "$scratch/ca.pem" "https://localhost:$port/hello")"

fetch "$base/hello" >/dev/null 2>"$scratch/err"
check "system store: exit status" 1 $?
check "system store: the error, plainly" \
  "taut-fetch: tls_handshake_failed while connecting: TLS certificate signed by an unknown certificate authority" \
  "$(cat "$scratch/err")"

check "--insecure" "hello nginx" "$(fetch --insecure "$base/hello")"
check "-k" "hello nginx" "$(fetch -k "$base/hello")"

fetch --cacert "$scratch/nope.pem" "$base/hello" >/dev/null 2>"$scratch/err"
check "unreadable --cacert: exit status" 1 $?
check_contains "unreadable --cacert: says so" "tls_setup_failed" "$(cat "$scratch/err")"

report=$(fetch --cacert "$scratch/ca.pem" -n 40 -c 2 "$base/hello")
check "-n/-c over TLS: status" 0 $?
check_contains "-n/-c over TLS: no failure" "failed: 0" "$report"
check_contains "-n/-c over TLS: two connections" "connections opened: 2" "$report"
check_contains "-n/-c over TLS: two handshakes" "tls handshakes: 2" "$report"

# taut-serve as a reverse proxy to the https upstream.
"$server_bin" --listen 127.0.0.1:0 --threads 1 --proxy "https://localhost:$port" \
  --proxy-cacert "$scratch/ca.pem" >/dev/null 2>"$scratch/serve.err" &
serve_pid=$!
front=$(wait_for_line "$scratch/serve.err" \
  's|^taut-serve: listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$serve_pid")
check "proxy to https upstream" "hello nginx" "$(fetch "http://127.0.0.1:$front/hello")"
kill -TERM "$serve_pid"
wait "$serve_pid"
serve_pid=

"$server_bin" --listen 127.0.0.1:0 --proxy "https://localhost:$port" \
  --proxy-cacert "$scratch/nope.pem" >/dev/null 2>"$scratch/serve.err"
check "unreadable --proxy-cacert: exit status" 2 $?
check_contains "unreadable --proxy-cacert: says so" "--proxy-cacert" "$(cat "$scratch/serve.err")"

echo "taut_fetch_tls_test: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
