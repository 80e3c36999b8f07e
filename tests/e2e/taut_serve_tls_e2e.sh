#!/usr/bin/env bash
# End-to-end checks of taut-serve over TLS with curl and openssl s_client: certificates made here
# with the openssl command (a CA, "localhost" and "other.test"; no key is ever committed), the
# server started with two --tls-cert/--tls-key pairs, then HTTPS requests, SNI, refused protocol
# versions and ALPN, session resumption, uploads, streaming, static files and close_notify on
# graceful shutdown. Usage: taut_serve_tls_e2e.sh TAUT_SERVE. Exit status 77 (skipped) without
# curl or openssl, or when taut-serve was built without TLS. Every wait is bounded; it only kills
# the PIDs it started.
set -uo pipefail

server_bin=$1
for tool in curl openssl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"
    exit 77
  fi
done

# shellcheck source=tests/shell_checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shell_checks.sh"
server_pid=
client_pid=
scratch_with_cleanup taut-tls-e2e client_pid server_pid

# --- Certificates: a CA and two server certificates it signs (ECDSA P-256, valid two days).
certs="$scratch/certs"
mkdir -p "$certs"
make_cert() {  # NAME SUBJECT_ALT_NAMES
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$certs/$1.key" \
    -out "$certs/$1.csr" -subj "/CN=$1" 2>/dev/null &&
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" \
      >"$certs/$1.ext" &&
    openssl x509 -req -in "$certs/$1.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" \
      -CAcreateserial -days 2 -out "$certs/$1.pem" -extfile "$certs/$1.ext" 2>/dev/null
}
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$certs/ca.key" -out "$certs/ca.pem" -subj "/CN=taut e2e CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  2>/dev/null || ! make_cert localhost 'DNS:localhost,IP:127.0.0.1,IP:::1' ||
  ! make_cert other.test 'DNS:other.test'; then
  echo "could not make the test certificates with openssl" >&2
  exit 1
fi
ca="$certs/ca.pem"

# --- Usage: the flags come in pairs; an unreadable certificate names its file.
"$server_bin" --tls-cert "$certs/localhost.pem" >/dev/null 2>"$scratch/err"
check "cert without key status" 2 $?
check_contains "cert without key message" "--tls-cert needs its --tls-key" "$(cat "$scratch/err")"
"$server_bin" --tls-key "$certs/localhost.key" >/dev/null 2>"$scratch/err"
check "key without cert status" 2 $?
check_contains "key without cert message" "--tls-key needs its --tls-cert" "$(cat "$scratch/err")"
"$server_bin" --tls-unix --unix "$scratch/x.sock" >/dev/null 2>"$scratch/err"
check "tls-unix without cert status" 2 $?
"$server_bin" --listen 127.0.0.1:0 --tls-cert "$scratch/missing.pem" \
  --tls-key "$certs/localhost.key" >/dev/null 2>"$scratch/err"
status=$?
if grep -qi "built without OpenSSL" "$scratch/err"; then
  echo "SKIP: taut-serve was built without TLS (TAUT_TLS=OFF or no OpenSSL 3): $(cat "$scratch/err")"
  exit 77
fi
check "missing certificate status" 1 "$status"
check_contains "missing certificate names the file" "$scratch/missing.pem" "$(cat "$scratch/err")"
"$server_bin" --listen 127.0.0.1:0 --tls-cert "$certs/localhost.pem" \
  --tls-key "$certs/other.test.key" >/dev/null 2>"$scratch/err"
check "mismatched key status" 1 $?
check_contains "mismatched key names the key" "$certs/other.test.key" "$(cat "$scratch/err")"

# --- The server: TLS on TCP, a plain Unix socket, two certificates (localhost is the default).
root="$scratch/root"
mkdir -p "$root"
head -c 3145728 /dev/urandom >"$root/big.bin"
printf 'hello over tls\n' >"$root/hello.txt"
unix_socket="$scratch/plain.sock"
"$server_bin" --listen 127.0.0.1:0 --unix "$unix_socket" --threads 2 --root "$root" \
  --tls-cert "$certs/localhost.pem" --tls-key "$certs/localhost.key" \
  --tls-cert "$certs/other.test.pem" --tls-key "$certs/other.test.key" \
  --access-log --max-body 64K >"$scratch/access.log" 2>"$scratch/server.err" &
server_pid=$!
port=$(wait_for_line "$scratch/server.err" \
  's|^taut-serve: listening on https://127\.0\.0\.1:\([0-9]*\)/ (TLS, .*)$|\1|p' "$server_pid")
if [[ -z $port ]]; then
  echo "taut-serve did not start:" >&2
  cat "$scratch/server.err" >&2
  exit 1
fi
base="https://localhost:$port"
curl_() { curl --silent --show-error --max-time 10 --cacert "$ca" "$@"; }
for _ in $(seq 1 50); do
  curl_ "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# The start-up log says which record layer each TLS listener uses; the Unix socket stays plain.
listen_line=$(grep "listening on https://127.0.0.1:$port/" "$scratch/server.err")
if [[ $listen_line =~ \(TLS,\ (kTLS|OpenSSL\ user-space\ records\ \(.+\))\)$ ]]; then
  pass
  echo "listener: ${listen_line#taut-serve: }"
else
  fail "listener line does not name the TLS path: $listen_line"
fi
check "unix listener plain" "taut-serve: listening on unix:$unix_socket" \
  "$(grep "listening on unix:" "$scratch/server.err")"
check "unix socket plain http" "ok" \
  "$(curl --silent --max-time 5 --unix-socket "$unix_socket" http://localhost/healthz)"

# HTTPS with certificate verification against the CA.
check "https status" "200" "$(curl_ -o /dev/null -w '%{http_code}' "$base/healthz")"
check "https healthz" "ok" "$(curl_ "$base/healthz")"
check "https by ip" "Hello, World!" "$(curl_ "https://127.0.0.1:$port/plaintext")"
check "https hello" "Hello, tls!" "$(curl_ "$base/hello/tls")"
curl --silent --max-time 5 -o /dev/null "$base/healthz"
check "untrusted without --cacert" 60 $?
curl --silent --max-time 5 -o /dev/null --tlsv1.3 --tls-max 1.3 --cacert "$ca" "$base/healthz"
check "tls 1.3" 0 $?
curl --silent --max-time 5 -o /dev/null --tlsv1.2 --tls-max 1.2 --cacert "$ca" "$base/healthz"
check "tls 1.2" 0 $?

# Keep-alive: two URLs on one TLS connection, HTTP/1.1 chosen by ALPN.
verbose=$(curl --silent --max-time 10 --cacert "$ca" --http1.1 -v "$base/healthz" \
  "$base/plaintext" 2>&1)
check_contains "keep-alive reuse over TLS" "Re-using existing connection" "$verbose"
if grep -Eq 'ALPN.*server accepted.*http/1\.1' <<<"$verbose"; then
  pass
else
  fail "ALPN http/1.1 not in curl -v: $(grep -i alpn <<<"$verbose")"
fi
check "one handshake for two requests" 1 "$(grep -c 'SSL connection using' <<<"$verbose")"

# Plain HTTP on the TLS port: no HTTP answer, the connection is closed; the server goes on.
plain=$(curl --silent --max-time 5 -w '%{http_code}' "http://127.0.0.1:$port/healthz")
curl_status=$?
check "plain http to tls port answered nothing" "000" "$plain"
if ((curl_status != 0)); then pass; else fail "plain http to the TLS port succeeded"; fi
check "served after plain http" "ok" "$(curl_ "$base/healthz")"

# SNI: other.test gets its certificate; localhost and unknown names get the default.
s_client_() { timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@"; }
subject() { s_client_ -servername "$1" </dev/null 2>/dev/null | sed -n 's/^subject=//p'; }
check "sni other.test" "CN = other.test" "$(subject other.test)"
check "sni localhost" "CN = localhost" "$(subject localhost)"
check "sni unknown gets default" "CN = localhost" "$(subject nobody.example)"
check "sni verifies" "Verify return code: 0 (ok)" \
  "$(s_client_ -servername other.test -CAfile "$ca" -verify_hostname other.test </dev/null 2>/dev/null |
    grep -o 'Verify return code: 0 (ok)' | head -n 1)"

# TLS 1.1 is refused (the client is allowed to offer it: security level 0).
old=$(s_client_ -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1)
check "tls1.1 refused status" 1 $?
check_contains "tls1.1 refused alert" "alert protocol version" "$old"
check_lacks "tls1.1 no session" "New, TLSv1" "$old"

# ALPN: h2 alone is refused; h2 with http/1.1 picks http/1.1; no ALPN at all is served.
h2=$(s_client_ -alpn h2 </dev/null 2>&1)
check "alpn h2 refused status" 1 $?
check_contains "alpn h2 refused alert" "no application protocol" "$h2"
check_contains "alpn h2,http/1.1" "ALPN protocol: http/1.1" \
  "$(s_client_ -alpn h2,http/1.1 </dev/null 2>&1)"
check_contains "no alpn served" "HTTP/1.1 200 OK" \
  "$(printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
    s_client_ -quiet -ign_eof 2>/dev/null)"

# Session resumption (tickets), TLS 1.3 and TLS 1.2: the second connection says "Reused".
request=$'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
for version in tls1_3 tls1_2; do
  first=$(printf '%s' "$request" | s_client_ "-$version" -servername localhost -CAfile "$ca" \
    -sess_out "$scratch/$version.sess" -ign_eof 2>/dev/null | grep -E '^(New|Reused),' | head -n 1)
  check_contains "$version first is new" "New," "$first"
  second=$(printf '%s' "$request" | s_client_ "-$version" -servername localhost -CAfile "$ca" \
    -sess_in "$scratch/$version.sess" -ign_eof 2>/dev/null | grep -E '^(New|Reused),' | head -n 1)
  check_contains "$version resumed" "Reused," "$second"
done

# A POST upload and a streamed (chunked) response over TLS.
head -c 30000 /dev/urandom | base64 -w0 >"$scratch/upload.txt"
echo_out=$(curl_ -H 'Content-Type: text/plain' --data-binary @"$scratch/upload.txt" "$base/echo")
check_contains "post upload body" "\"body\":\"$(cat "$scratch/upload.txt")\"" "$echo_out"
check_contains "post upload length" '["Content-Length","40000"]' "$echo_out"
clock=$(curl_ -N -D "$scratch/clock.head" "$base/clock?n=2")
check "streamed events" 2 "$(grep -c '^data: ' <<<"$clock")"
check_contains "streamed chunked" "transfer-encoding: chunked" \
  "$(tr 'A-Z' 'a-z' <"$scratch/clock.head")"

# A static file (the sendfile path: kTLS, or through OpenSSL) byte for byte, and a range of it.
curl_ -o "$scratch/big.out" "$base/static/big.bin"
if cmp -s "$root/big.bin" "$scratch/big.out"; then
  pass
else
  fail "static file over TLS differs ($(stat -c %s "$scratch/big.out") bytes)"
fi
curl_ -r 1000000-1000099 -o "$scratch/part.out" "$base/static/big.bin"
if cmp -s <(tail -c +1000001 "$root/big.bin" | head -c 100) "$scratch/part.out"; then
  pass
else
  fail "static range over TLS differs"
fi
check "static small" "hello over tls" "$(curl_ "$base/static/hello.txt")"

# Graceful shutdown: an idle TLS connection receives close_notify (s_client prints "closed"), and
# the server exits with status 0.
(sleep 8 | openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$ca" \
  >"$scratch/idle.out" 2>&1) &
client_pid=$!
for _ in $(seq 1 50); do
  grep -q 'Verify return code' "$scratch/idle.out" 2>/dev/null && break
  sleep 0.1
done
sleep 0.3  # the session tickets after the TLS 1.3 handshake
stop_with_sigterm server_pid taut-serve
for _ in $(seq 1 50); do
  grep -qx 'closed' "$scratch/idle.out" && break
  sleep 0.1
done
if grep -qx 'closed' "$scratch/idle.out"; then
  pass
else
  fail "no close_notify on shutdown: $(tail -n 3 "$scratch/idle.out")"
fi
kill "$client_pid" 2>/dev/null
wait "$client_pid" 2>/dev/null
client_pid=

check_contains "access log" '"GET /healthz HTTP/1.1" 200' "$(cat "$scratch/access.log")"
check_contains "handshake failures on stderr" "TLS handshake with 127.0.0.1" \
  "$(cat "$scratch/server.err")"

# --tls-unix: the Unix socket speaks TLS too (curl --unix-socket with an https:// URL).
tls_socket="$scratch/tls.sock"
"$server_bin" --unix "$tls_socket" --tls-unix --tls-cert "$certs/localhost.pem" \
  --tls-key "$certs/localhost.key" >/dev/null 2>"$scratch/unix.err" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on unix:" "$scratch/unix.err" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
check_contains "tls unix listener line" "listening on unix:$tls_socket (TLS, " \
  "$(cat "$scratch/unix.err")"
check "https over unix socket" "ok" \
  "$(curl_ --unix-socket "$tls_socket" https://localhost/healthz)"
plain=$(curl --silent --max-time 5 -w '%{http_code}' --unix-socket "$tls_socket" \
  http://localhost/healthz)
check "plain http to tls unix socket" "000" "$plain"
stop_with_sigterm server_pid "taut-serve on a tls unix socket"

echo "taut_serve_tls_e2e: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
