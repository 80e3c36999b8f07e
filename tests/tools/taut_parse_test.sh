#!/usr/bin/env bash
# Checks taut-parse against its contract (README.md, `taut-parse --help`): exact stdout, exit status
# and, for usage errors, stderr. Usage: taut_parse_test.sh TAUT_PARSE GROUP, where GROUP is one of
# basic, pipelining, escaping, errors, incomplete, lenient, codings, usage, or all.
#
# Inputs are printf %b strings (\r\n, \t, \x00); expected output is literal, one JSON line per line.
set -uo pipefail

tool=$1
group=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0

# expect NAME EXIT_STATUS ARGS INPUT EXPECTED_STDOUT
# Runs `taut-parse ARGS` (ARGS split on spaces) with INPUT on stdin.
expect() {
  local name=$1 want_status=$2 args=$3 input=$4 want=$5
  printf '%b' "$input" >"$scratch/input"
  run_and_compare "$name" "$want_status" "$want" $args <"$scratch/input"
}

# expect_file NAME EXIT_STATUS INPUT EXPECTED_STDOUT: like expect, with INPUT in a FILE argument.
expect_file() {
  local name=$1 want_status=$2 input=$3 want=$4
  printf '%b' "$input" >"$scratch/input file"
  run_and_compare "$name" "$want_status" "$want" "$scratch/input file" </dev/null
}

run_and_compare() {
  local name=$1 want_status=$2 want=$3
  shift 3
  local got status
  got=$("$tool" "$@" 2>"$scratch/stderr")
  status=$?
  if [[ $status -eq $want_status && "$got" == "$want" ]]; then
    passed=$((passed + 1))
    return
  fi
  failed=$((failed + 1))
  echo "FAIL $name: taut-parse $*"
  echo "  exit status: want $want_status, got $status"
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/  /'
  sed 's/^/  stderr: /' "$scratch/stderr"
}

# expect_usage_error NAME ARGS...: exit 2, nothing on stdout, a message and the usage on stderr.
expect_usage_error() {
  local name=$1
  shift
  local got status
  got=$("$tool" "$@" 2>"$scratch/stderr" </dev/null)
  status=$?
  if [[ $status -eq 2 && -z "$got" ]] && grep -q '^taut-parse: ' "$scratch/stderr"; then
    passed=$((passed + 1))
    return
  fi
  failed=$((failed + 1))
  echo "FAIL $name: taut-parse $*: want exit 2, empty stdout and a message on stderr;" \
    "got exit $status, stdout '$got', stderr '$(cat "$scratch/stderr")'"
}

basic() {
  expect "simple GET" 0 "" 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n' \
    '{"method":"GET","target":"/x","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
  expect "HTTP/1.0 without Host is not keep-alive" 0 "" 'GET / HTTP/1.0\r\n\r\n' \
    '{"method":"GET","target":"/","version":"1.0","headers":[],"body":"","keep_alive":false}'
  expect "names keep case and order, values lose OWS" 0 "" \
    'GET /a?b=c HTTP/1.1\r\nhOsT: \t a.example \t\r\nX-One: 1\r\nx-one:2\r\nConnection: close\r\n\r\n' \
    '{"method":"GET","target":"/a?b=c","version":"1.1","headers":[["hOsT","a.example"],["X-One","1"],["x-one","2"],["Connection","close"]],"body":"","keep_alive":false}'
  expect "any token is a method; other target forms" 0 "" \
    'PURGE http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n' \
    '{"method":"PURGE","target":"http://a.example/x","version":"1.1","headers":[["Host","a.example"]],"body":"","keep_alive":true}
{"method":"OPTIONS","target":"*","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"method":"CONNECT","target":"a.example:443","version":"1.1","headers":[["Host","a.example:443"]],"body":"","keep_alive":true}'
  expect "Content-Length body" 0 "" \
    'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' \
    '{"method":"POST","target":"/p","version":"1.1","headers":[["Host","a"],["Content-Length","5"]],"body":"hello","keep_alive":true}'
  expect "empty lines before the request-line are ignored" 0 "" \
    '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
  expect "empty lines after the last request start no request" 0 "" \
    'GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
  expect "empty input prints nothing" 0 "" '' ''
  expect "- reads stdin" 0 "-" 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
  expect_file "FILE argument" 0 'GET /f HTTP/1.1\r\nHost: a\r\n\r\n' \
    '{"method":"GET","target":"/f","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
}

pipelining() {
  expect "GET, Content-Length, chunked with trailers, close" 0 "" \
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcPOST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nxyz\r\nA\r\n0123456789\r\n0\r\nChecksum: c1\r\nX-Trailer: two\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' \
    '{"method":"GET","target":"/1","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"method":"POST","target":"/2","version":"1.1","headers":[["Host","a"],["Content-Length","3"]],"body":"abc","keep_alive":true}
{"method":"POST","target":"/3","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","chunked"]],"body":"xyz0123456789","trailers":[["Checksum","c1"],["X-Trailer","two"]],"keep_alive":true}
{"method":"GET","target":"/4","version":"1.1","headers":[["Host","a"],["Connection","close"]],"body":"","keep_alive":false}'
  expect "chunked without trailers has no trailers key" 0 "" \
    'PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n' \
    '{"method":"PUT","target":"/c","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","chunked"]],"body":"hi","keep_alive":true}'
  expect "HTTP/1.2 is served as 1.1 and shown as sent" 0 "" \
    'GET /v HTTP/1.2\r\nHost: a\r\n\r\n' \
    '{"method":"GET","target":"/v","version":"1.2","headers":[["Host","a"]],"body":"","keep_alive":true}'
  expect "empty chunked and Content-Length: 0 bodies" 0 "" \
    'POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n' \
    '{"method":"POST","target":"/a","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","chunked"]],"body":"","keep_alive":true}
{"method":"POST","target":"/b","version":"1.1","headers":[["Host","a"],["Content-Length","0"]],"body":"","keep_alive":true}'
  expect "requests go on after Connection: close" 0 "" \
    'GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' \
    '{"method":"GET","target":"/1","version":"1.0","headers":[],"body":"","keep_alive":false}
{"method":"GET","target":"/2","version":"1.1","headers":[["Host","a"],["Connection","close"]],"body":"","keep_alive":false}
{"method":"GET","target":"/3","version":"1.0","headers":[["Connection","keep-alive"]],"body":"","keep_alive":true}'
}

escaping() {
  # Body bytes: NUL CR LF DEL 0xff " \ A.
  expect "control, quote, backslash and high bytes are \\u00XX" 0 "" \
    'POST /e HTTP/1.1\r\nHost: a\r\nX-Quote: say "hi"\\there\r\nX-Tab: a\tb\r\nX-Obs-Text: caf\xc3\xa9\r\nContent-Length: 8\r\n\r\n\x00\r\n\x7f\xff"\\A' \
    '{"method":"POST","target":"/e","version":"1.1","headers":[["Host","a"],["X-Quote","say \u0022hi\u0022\u005cthere"],["X-Tab","a\u0009b"],["X-Obs-Text","caf\u00c3\u00a9"],["Content-Length","8"]],"body":"\u0000\u000d\u000a\u007f\u00ff\u0022\u005cA","keep_alive":true}'
  expect "trailer values are escaped too" 0 "" \
    'POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\x01\r\n0\r\nX-T: "\x80"\r\n\r\n' \
    '{"method":"POST","target":"/t","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","chunked"]],"body":"\u0001","trailers":[["X-T","\u0022\u0080\u0022"]],"keep_alive":true}'
}

errors() {
  # Each offset is the byte at fault, counted from the first byte of the input.
  expect "bad method: the @ at 1" 1 "" 'G@T / HTTP/1.1\r\nHost: a\r\n\r\n' \
    '{"error":"bad_method","status":400,"offset":1}'
  expect "unsupported version is 505: the version at 6" 1 "" 'GET / HTTP/2.0\r\nHost: a\r\n\r\n' \
    '{"error":"unsupported_version","status":505,"offset":6}'
  expect "missing Host: the end of the head at 29" 1 "" 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n' \
    '{"error":"missing_host","status":400,"offset":29}'
  expect "Transfer-Encoding with Content-Length (CL.TE): the TE line at 45" 1 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' \
    '{"error":"transfer_encoding_with_content_length","status":400,"offset":45}'
  expect "unknown transfer coding is 501: rot13 at 45" 1 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: rot13, chunked\r\n\r\n' \
    '{"error":"unknown_transfer_coding","status":501,"offset":45}'
  expect "a coding the parser does not decode is 501 too: gzip at 45" 1 "" \
    'PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n' \
    '{"error":"unknown_transfer_coding","status":501,"offset":45}'
  expect "bytes that start no request: the first one, at once" 1 "" \
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' \
    '{"error":"bad_method","status":400,"offset":0}'
  expect "header error in a later request: the @ at 57 of the input" 1 "" \
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nBad@Name: x\r\n\r\n' \
    '{"method":"GET","target":"/1","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"error":"bad_header_name","status":400,"offset":57}'
  expect "body error: bad chunk size zz at 63 of the input" 1 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\nzz\r\n' \
    '{"error":"bad_chunk_size","status":400,"offset":63}'
  expect "body error: chunk size overflow at the 17th hex digit (72)" 1 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n' \
    '{"error":"chunk_size_overflow","status":400,"offset":72}'
  expect "body error after pipelined requests: y where CRLF belongs (87)" 1 "" \
    'GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"error":"bad_chunk_data_end","status":400,"offset":87}'
  expect "request-line too long is 414: the byte past 8 KiB" 1 "" "GET /$(printf 'a%.0s' {1..9000}) HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n" \
    '{"error":"request_line_too_long","status":414,"offset":8192}'
  expect "too many headers is 431: the 101st field line (619)" 1 "" \
    "GET / HTTP/1.1\\r\\nHost: a\\r\\n$(printf 'X: y\\r\\n%.0s' {1..100})\\r\\n" \
    '{"error":"too_many_headers","status":431,"offset":619}'
  expect "bare CR at 23" 1 "" 'GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n' \
    '{"error":"bare_cr","status":400,"offset":23}'
}

incomplete() {
  expect "inside the request-line" 0 "" 'GET /x HTT' '{"incomplete":true}'
  expect "inside the header section" 0 "" 'GET /x HTTP/1.1\r\nHost: a\r\n' '{"incomplete":true}'
  expect "inside a Content-Length body" 0 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello' '{"incomplete":true}'
  expect "inside a chunk" 0 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel' '{"incomplete":true}'
  expect "inside the trailer section" 0 "" \
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n' \
    '{"incomplete":true}'
  expect "after a complete request" 0 "" 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2' \
    '{"method":"GET","target":"/1","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"incomplete":true}'
  expect "a lone CR after a request" 0 "" 'GET / HTTP/1.1\r\nHost: a\r\n\r\n\r' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"incomplete":true}'
}

lenient() {
  local bare_lf='GET / HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n\n'
  expect "bare LF is an error by default: the LF at 14" 1 "" "$bare_lf" \
    '{"error":"bare_lf","status":400,"offset":14}'
  expect "--lenient accepts bare LF" 0 "--lenient" "$bare_lf" \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}
{"method":"GET","target":"/2","version":"1.1","headers":[["Host","b"]],"body":"","keep_alive":true}'

  local folded='GET / HTTP/1.1\r\nHost: a\r\nX-Fold: one \r\n \t two\r\n\tthree\r\nX-After: z\r\n\r\n'
  expect "obs-fold is an error by default: the fold line at 39" 1 "" "$folded" \
    '{"error":"obs_fold","status":400,"offset":39}'
  expect "--lenient unfolds obs-fold to one SP" 0 "--lenient" "$folded" \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"],["X-Fold","one two three"],["X-After","z"]],"body":"","keep_alive":true}'

  expect "--lenient unfolds a bare-LF obs-fold too" 0 "--lenient" \
    'GET / HTTP/1.1\nHost: a\nX: a\n\tb\n c\n\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"],["X","a b c"]],"body":"","keep_alive":true}'

  local spaced='GET / HTTP/1.1\r\nHost : a\r\nX-Y\t: b\r\n\r\n'
  expect "whitespace before the colon is an error by default: at 20" 1 "" "$spaced" \
    '{"error":"space_before_colon","status":400,"offset":20}'
  expect "--lenient drops whitespace before the colon" 0 "--lenient" "$spaced" \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"],["X-Y","b"]],"body":"","keep_alive":true}'

  expect "--lenient keeps Transfer-Encoding with Content-Length an error: the CL line at 54" 1 "--lenient" \
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n' \
    '{"error":"transfer_encoding_with_content_length","status":400,"offset":54}'
  expect "--lenient after FILE" 0 "- --lenient" 'GET / HTTP/1.1\nHost: a\n\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
}

codings() {
  local gzip='POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
  expect "a coding before chunked is 501 by default: at the TE value's end, 45" 1 "" "$gzip" \
    '{"error":"unknown_transfer_coding","status":501,"offset":45}'
  expect "--allow-transfer-codings names the codings and keeps the body coded" 0 \
    "--allow-transfer-codings" "$gzip" \
    '{"method":"POST","target":"/","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","gzip, chunked"]],"body":"abc","transfer_codings":"gzip","keep_alive":true}'
  expect "--allow-transfer-codings leaves a plain chunked body as it was" 0 \
    "--allow-transfer-codings" 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n' \
    '{"method":"POST","target":"/","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","chunked"]],"body":"z","keep_alive":true}'
  expect "--allow-transfer-codings takes the final chunked in a field line of its own" 0 \
    "--allow-transfer-codings" 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' \
    '{"method":"POST","target":"/x","version":"1.1","headers":[["Host","a"],["Transfer-Encoding","gzip"],["Transfer-Encoding","chunked"]],"body":"abc","transfer_codings":"gzip","keep_alive":true}'
  expect "--allow-transfer-codings refuses a second coding in a later field line: at 71" 1 \
    "--allow-transfer-codings" 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: deflate, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' \
    '{"error":"bad_transfer_encoding","status":400,"offset":71}'
  expect "--allow-transfer-codings still refuses a coding after chunked (RFC 9112 6.3)" 1 \
    "--allow-transfer-codings" 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n' \
    '{"error":"chunked_not_final","status":400,"offset":54}'
}

usage() {
  expect_usage_error "unknown option" --strict
  expect_usage_error "unknown short option" -x
  expect_usage_error "two files" a b
  expect_usage_error "missing file" "$scratch/does-not-exist"
  expect_usage_error "a directory" "$scratch"
  expect "-- ends the options" 0 "-- -" 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' \
    '{"method":"GET","target":"/","version":"1.1","headers":[["Host","a"]],"body":"","keep_alive":true}'
  local help status
  help=$("$tool" --help </dev/null)
  status=$?
  if [[ $status -eq 0 && "$help" == "usage: taut-parse [--lenient] [--allow-transfer-codings] [FILE]"* && "$help" == *--lenient* ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL --help: exit $status, output: $help"
  fi
}

case $group in
  basic | pipelining | escaping | errors | incomplete | lenient | codings | usage) $group ;;
  all) basic; pipelining; escaping; errors; incomplete; lenient; codings; usage ;;
  *) echo "unknown group $group" >&2; exit 2 ;;
esac

echo "taut-parse $group: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
