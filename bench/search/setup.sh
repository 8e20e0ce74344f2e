#!/usr/bin/env bash
# Search-benchmark setup: installs the data packages (Debian) and the Python
# peers (pinned in requirements.txt) into a venv under target/. Idempotent:
# re-running installs only what is missing. Run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${BENCH_VENV:-target/bench-venv}"
PY="${PYTHON:-python3}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. Debian packages: the data sets, plus what a fresh machine needs to make a
#    venv and build hnswlib's wheel (it ships as source).
need=()
for p in dataset-fashion-mnist dict-gcide; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v "$PY" >/dev/null 2>&1 || need+=(python3)
command -v c++ >/dev/null 2>&1 || need+=(g++)
if command -v "$PY" >/dev/null 2>&1; then
    "$PY" -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
    inc="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [ -f "$inc/Python.h" ] || need+=(python3-dev)
fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${need[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
else
    echo "setup: Debian packages present"
fi

# 2. Python packages in a venv (sees the interpreter's own site-packages, so
#    packages already installed at the pinned versions are reused).
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PY" -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/python" -m pip install -q -r bench/search/requirements.txt

# 3. Check.
"$VENV/bin/python" - <<'PYEOF'
import importlib.metadata as md, sqlite3
import numpy, hnswlib, tantivy  # noqa: F401
c = sqlite3.connect(":memory:")
c.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
print("setup: ok: numpy %s, hnswlib %s, tantivy %s, SQLite %s with FTS5" % (
    md.version("numpy"), md.version("hnswlib"), md.version("tantivy"), sqlite3.sqlite_version))
PYEOF
for f in /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz /usr/share/dictd/gcide.index /usr/share/dictd/gcide.dict.dz; do
    [ -f "$f" ] || { echo "setup: missing $f" >&2; exit 1; }
done
echo "setup: data files present"
