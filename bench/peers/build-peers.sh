#!/usr/bin/env bash
# Builds the peer parsers that taut-bench compiles from source, outside the repository:
#   - picohttpparser from Debian's h2o source package (which vendors it), -O3 -march=native;
#   - llhttp from Debian's node-llhttp sources (/usr/share/llhttp), once -O3 for baseline x86-64
#     and once -O3 -march=native.
# Each build is a static library whose global symbols carry a prefix (pico_native_, llhttp_generic_,
# llhttp_native_), so the copies link into one program beside Debian's own libh2o-evloop.
#
# The h2o sources come from `apt-get source` run with a private apt configuration (its own sources
# file, package lists and cache under the output directory): the system's apt state is untouched.
#
# Usage: bench/peers/build-peers.sh [--force] [OUTPUT_DIR]
#   OUTPUT_DIR defaults to $TAUT_PEERS_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/taut-peers.
#   TAUT_DEBIAN_MIRROR overrides the Debian mirror (default: the one this machine's apt uses).
#   CC overrides the C compiler (default: cc).
# Prints the output directory on its last line; pass it to CMake as -DTAUT_BENCH_PEERS_DIR=...
set -euo pipefail

force=0
if [[ ${1:-} == --force ]]; then
  force=1
  shift
fi
out=${1:-${TAUT_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taut-peers}}
cc=${CC:-cc}
llhttp_src=/usr/share/llhttp
llhttp_include=/usr/share/include/llhttp

log() { echo "build-peers: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for tool in "$cc" ar objcopy nm apt-get dpkg-source; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/install-deps.sh)"
done
[[ -f $llhttp_src/llhttp.c && -f $llhttp_include/llhttp.h ]] ||
  die "llhttp sources not found in $llhttp_src (install node-llhttp)"

mkdir -p "$out"/{lib,obj,src}
out=$(cd "$out" && pwd)

# Everything that decides the output: when it changes (another compiler, another CPU for
# -march=native, a new node-llhttp), the libraries are rebuilt.
native_arch=$("$cc" -march=native -Q --help=target 2>/dev/null | awk '$1 == "-march=" { print $2 }')
stamp_text="script $(sha256sum "$0" | cut -d' ' -f1)
cc $("$cc" --version | head -n1)
native ${native_arch:-unknown} $(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -d' ' -f1)
llhttp $(cat $llhttp_src/*.c $llhttp_include/llhttp.h | sha256sum | cut -d' ' -f1)"
stamp=$out/stamp
if [[ $force -eq 0 && -f $stamp && "$(cat "$stamp")" == "$stamp_text" &&
  -f $out/lib/libpico_native.a && -f $out/lib/libllhttp_generic.a &&
  -f $out/lib/libllhttp_native.a ]]; then
  log "up to date in $out"
  echo "$out"
  exit 0
fi

# --- h2o sources, through a private apt configuration ------------------------------------------

debian_mirror() {
  if [[ -n ${TAUT_DEBIAN_MIRROR:-} ]]; then
    echo "$TAUT_DEBIAN_MIRROR"
    return
  fi
  local file uri
  # deb822 files: the URIs of a stanza whose Suites include bookworm.
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -f $file ]] || continue
    uri=$(awk '
      /^[[:space:]]*$/ { if (suite && uri) { print uri; exit } suite = 0; uri = "" }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
      END { if (suite && uri) print uri }' "$file" | head -n1)
    if [[ -n $uri ]]; then
      echo "$uri"
      return
    fi
  done
  # One-line format.
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $file ]] || continue
    uri=$(awk '$1 == "deb" && / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' "$file")
    if [[ -n $uri ]]; then
      echo "$uri"
      return
    fi
  done
  echo http://deb.debian.org/debian
}

find_pico_source() {
  find "$out/src" -path '*/deps/picohttpparser/picohttpparser.c' -not -path '*/.pc/*' 2>/dev/null |
    sort | tail -n1
}

pico_c=$(find_pico_source)
if [[ -z $pico_c ]]; then
  apt_dir=$out/apt
  mkdir -p "$apt_dir"/{sources.list.d,lists/partial,cache/archives/partial}
  mirror=$(debian_mirror)
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  signed_by=""
  [[ -f $keyring ]] && signed_by="[signed-by=$keyring] "
  echo "deb-src ${signed_by}$mirror bookworm main" >"$apt_dir/sources.list"
  apt_private=(-o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=$(id -un)")
  log "fetching the h2o source package from $mirror (private apt state in $apt_dir)"
  apt-get "${apt_private[@]}" -qq update
  # The same source version as the installed library when the mirror still has it.
  version=$(dpkg-query -W -f='${source:Version}' 'libh2o-evloop0.13' 2>/dev/null || true)
  (
    cd "$out/src"
    if [[ -z $version ]] || ! apt-get "${apt_private[@]}" -q source "h2o=$version" >&2; then
      apt-get "${apt_private[@]}" -q source h2o >&2
    fi
  )
  pico_c=$(find_pico_source)
  [[ -n $pico_c ]] || die "the h2o source package has no deps/picohttpparser/picohttpparser.c"
fi
log "picohttpparser: $pico_c"

# --- compile with prefixed symbols --------------------------------------------------------------

# build_prefixed <name> <prefix> <flags> -- <sources>: a static library lib<name>.a whose defined
# global symbols are renamed <prefix><symbol>, references between its objects included.
build_prefixed() {
  local name=$1 prefix=$2 flags=$3
  shift 4
  local dir=$out/obj/$name
  rm -rf "$dir"
  mkdir -p "$dir"
  local objects=() source object
  for source in "$@"; do
    object=$dir/$(basename "${source%.c}").o
    # shellcheck disable=SC2086
    "$cc" $flags -DNDEBUG -I"$(dirname "$source")" -I"$llhttp_include" -c "$source" -o "$object"
    objects+=("$object")
  done
  nm --defined-only -g "${objects[@]}" | awk 'NF == 3 { print $3 " '"$prefix"'" $3 }' |
    sort -u >"$dir/renames"
  for object in "${objects[@]}"; do
    objcopy --redefine-syms="$dir/renames" "$object"
  done
  rm -f "$out/lib/lib$name.a"
  ar rcs "$out/lib/lib$name.a" "${objects[@]}"
  log "built lib$name.a ($flags, $(wc -l <"$dir/renames") symbols prefixed $prefix)"
}

build_prefixed pico_native pico_native_ "-O3 -march=native" -- "$pico_c"
build_prefixed llhttp_generic llhttp_generic_ "-O3" -- $llhttp_src/api.c $llhttp_src/http.c $llhttp_src/llhttp.c
build_prefixed llhttp_native llhttp_native_ "-O3 -march=native" -- $llhttp_src/api.c $llhttp_src/http.c $llhttp_src/llhttp.c

cat >"$out/peers.txt" <<EOF
pico-native    picohttpparser from $(basename "$(dirname "$(dirname "$(dirname "$pico_c")")")"), -O3 -march=native (${native_arch:-native})
llhttp-generic llhttp $(awk '/define LLHTTP_VERSION_(MAJOR|MINOR|PATCH)/ { printf "%s%s", sep, $3; sep = "." }' $llhttp_include/llhttp.h) (node-llhttp), -O3
llhttp-native  llhttp (node-llhttp), -O3 -march=native (${native_arch:-native})
compiler       $("$cc" --version | head -n1)
EOF
echo "$stamp_text" >"$stamp"
log "done"
echo "$out"
