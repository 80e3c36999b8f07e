#!/usr/bin/env bash
# Renders taut-bench's throughput table (taut-bench --throughput-out=FILE) as an SVG bar chart with
# gnuplot (Debian's gnuplot-nox): request heads on top, chunked bodies below (log scale).
#
# Usage: bench/plot-results.sh THROUGHPUT_TSV OUTPUT_SVG [SUBTITLE]
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 THROUGHPUT_TSV OUTPUT_SVG [SUBTITLE]" >&2
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

gnuplot <<EOF
set terminal svg size 1200,980 dynamic noenhanced font "sans,12" background rgb "white"
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
set border 3
# taut in warm colours, the peers in cool ones.
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

set multiplot layout 2,1 title "taut-bench: HTTP/1.1 request parsing throughput, GB/s (higher is better)\n$subtitle"
set title "Request heads (strict taut on its best path; every parser measured in the same run)"
set ylabel "GB/s"
set yrange [0:*]
plot for [i=2:$head_columns] "$work/heads.tsv" using i:xtic(1) title columnheader(i)

set title "Chunked bodies (log scale): -stream decoders hand out views of the chunk data without touching it; -inplace ones move it"
set logscale y
set yrange [1:*]
plot for [i=2:$chunked_columns] "$work/chunked.tsv" using i:xtic(1) title columnheader(i)
unset multiplot
EOF
echo "plot-results: wrote $svg" >&2
