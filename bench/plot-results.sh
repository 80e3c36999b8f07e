#!/usr/bin/env bash
# Renders the benchmark results as SVG bar charts with gnuplot (Debian's gnuplot-nox), in two modes:
# - parser (default): taut-bench's throughput table (taut-bench --throughput-out=FILE): request
#   and response heads on top, chunked bodies below (log scale); a panel without rows is left out;
# - --server: the load benchmark's table (scripts/bench-server.sh, server-throughput.tsv: one row
#   per server; requests/s and CPU us/request, plain and pipelined): one panel per figure.
#
# Usage: bench/plot-results.sh THROUGHPUT_TSV OUTPUT_SVG [SUBTITLE]
#        bench/plot-results.sh --server SERVER_THROUGHPUT_TSV OUTPUT_SVG [SUBTITLE]
set -euo pipefail

mode=parser
if [[ ${1:-} == --server ]]; then
  mode=server
  shift
fi
if [[ $# -lt 2 ]]; then
  echo "usage: $0 [--server] THROUGHPUT_TSV OUTPUT_SVG [SUBTITLE]" >&2
  exit 2
fi
data=$1
svg=$2
subtitle=${3:-}
command -v gnuplot >/dev/null || {
  echo "plot-results: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Both charts' colours: taut in warm colours, the peers in cool ones.
palette='
set linetype 1 lc rgb "#d1495b"
set linetype 2 lc rgb "#f4a259"
set linetype 3 lc rgb "#2e86ab"
set linetype 4 lc rgb "#0b4f6c"
set linetype 5 lc rgb "#8bc34a"
set linetype 6 lc rgb "#33691e"
set linetype 7 lc rgb "#9e9e9e"
set linetype 8 lc rgb "#5e548e"
set linetype 9 lc rgb "#795548"
set linetype 10 lc rgb "#00897b"
'

# plot_server: one bar per server, labelled with its value, in four panels (requests/s and CPU
# us/request, plain and pipelined); a missing figure ("-") leaves a gap.
plot_server() {
  # Colour by server name, so that each server keeps its colour whichever of them ran; no header
  # line (the x position is the row number).
  awk -F'\t' -v OFS='\t' '
    NR == 1 { next }
    { print $0, ($1 ~ /^taut/) ? 1 : ($1 ~ /^nginx/) ? 3 : ($1 ~ /^h2o/) ? 5 : ($1 ~ /^go/) ? 8 : 7 }
  ' "$data" >"$work/server.tsv"
  # The third column's name says how many requests were pipelined: "pipelined-16 req/s".
  local depth pipelined
  depth=$(head -n1 "$data" | awk -F'\t' '{ print $3 }' | grep -o '[0-9][0-9]*' | head -n1)
  pipelined=${depth:+$depth requests pipelined per write}
  local servers
  servers=$(($(wc -l <"$data") - 1))
  local panel column title format
  {
    cat <<EOF
set terminal svg size 1200,820 dynamic noenhanced font "sans,12" background rgb "white"
set output "$svg"
set datafile separator "\t"
set datafile missing "-"
set style fill solid 0.95 border rgb "#333333"
set boxwidth 0.6
set grid ytics lc rgb "#dddddd"
set xtics nomirror norotate scale 0
set ytics nomirror
set format y "%.10g"
set border 3
set key off
set xrange [-0.6:$servers - 0.4]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
$palette
set multiplot layout 2,2 title "taut-serve and its peers: GET /plaintext over loopback, one core per server (wrk -c100 keep-alive)\n$subtitle"
EOF
    for panel in "2|Requests/s, plain keep-alive (higher is better)|%.0f" \
      "3|Requests/s, ${pipelined:-pipelined} (higher is better)|%.0f" \
      "4|Server CPU us per request, plain keep-alive (lower is better)|%.2f" \
      "5|Server CPU us per request, ${pipelined:-pipelined} (lower is better)|%.2f"; do
      IFS='|' read -r column title format <<<"$panel"
      echo "set title \"$title\""
      echo "plot \"$work/server.tsv\" using 0:$column:6:xtic(1) with boxes lc variable, \\"
      echo "  \"\" using 0:$column:(sprintf(\"$format\", \$$column)) with labels offset 0,0.7"
    done
    echo "unset multiplot"
  } | gnuplot
  echo "plot-results: wrote $svg" >&2
}

if [[ $mode == server ]]; then
  plot_server
  exit 0
fi
# keep_rows <awk condition on the input name> <output>: those rows, and only the columns (parsers)
# measured on at least one of them.
keep_rows() {
  awk -F'\t' -v OFS='\t' "NR == 1 || (\$1 $1)" "$data" | awk -F'\t' -v OFS='\t' '
    { for (i = 1; i <= NF; i++) cell[NR, i] = $i; if (NF > width) width = NF; rows = NR }
    END {
      for (i = 1; i <= width; i++) {
        keep[i] = (i == 1)
        for (r = 2; r <= rows; r++) if (cell[r, i] != "-") keep[i] = 1
      }
      for (r = 1; r <= rows; r++) {
        line = ""
        for (i = 1; i <= width; i++) if (keep[i]) line = line (line == "" ? "" : OFS) cell[r, i]
        print line
      }
    }' >"$2"
}
# Heads and chunked bodies differ by orders of magnitude: one panel each.
keep_rows '!~ /^chunked/' "$work/heads.tsv"
keep_rows '~ /^chunked/' "$work/chunked.tsv"
head_columns=$(head -n1 "$work/heads.tsv" | awk -F'\t' '{ print NF }')
chunked_columns=$(head -n1 "$work/chunked.tsv" | awk -F'\t' '{ print NF }')
# A filtered run (--benchmark_filter) may leave a panel without rows: only the others are drawn.
head_rows=$(($(wc -l <"$work/heads.tsv") - 1))
chunked_rows=$(($(wc -l <"$work/chunked.tsv") - 1))
panels=$(((head_rows > 0) + (chunked_rows > 0)))
if [[ $panels -eq 0 ]]; then
  echo "plot-results: no figures in $data: no chart" >&2
  exit 0
fi

{
  cat <<EOF
set terminal svg size 1200,$((490 * panels)) dynamic noenhanced font "sans,12" background rgb "white"
set output "$svg"
set datafile separator "\t"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.95 border rgb "#333333"
set boxwidth 0.92
set grid ytics lc rgb "#dddddd"
set key outside right top vertical samplen 1.5 spacing 1.1
set xtics nomirror norotate
set ytics nomirror
set format y "%.10g"
set border 3
$palette

set multiplot layout $panels,1 title "taut-bench: HTTP/1.1 parsing throughput, GB/s (higher is better)\n$subtitle"
EOF
  if [[ $head_rows -gt 0 ]]; then
    cat <<EOF
set title "Request and response heads (strict taut on its best path; every parser measured in the same run)"
set ylabel "GB/s"
set yrange [0:*]
plot for [i=2:$head_columns] "$work/heads.tsv" using i:xtic(1) title columnheader(i)
EOF
  fi
  if [[ $chunked_rows -gt 0 ]]; then
    cat <<EOF
set title "Chunked bodies (log scale): -stream decoders hand out views of the chunk data without touching it; -inplace ones move it"
set ylabel "GB/s"
set logscale y
set yrange [1:*]
plot for [i=2:$chunked_columns] "$work/chunked.tsv" using i:xtic(1) title columnheader(i)
EOF
  fi
  echo "unset multiplot"
} | gnuplot
echo "plot-results: wrote $svg" >&2
