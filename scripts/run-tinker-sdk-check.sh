#!/usr/bin/env bash
# Runs scripts/tinker-sdk-check.py (the official Tinker Python SDK, v0.25.0, from source)
# against a freshly built `sous serve` on loopback. PyPI is not reachable here, so:
#   - the SDK comes from the `fetch` mirror of github:thinking-machines-lab/tinker;
#   - python is the pyenv python3 on PATH (3.11.7), which already has pydantic 2, numpy,
#     orjson, click, sniffio and typing_extensions >= 4.10 (Debian 12's typing_extensions 4.4
#     and pydantic 1.10 are too old for the SDK, so /usr/bin/python3 does not work);
#   - httpx (+httpcore, h11, anyio, certifi, idna, rfc3986, h2), protobuf, zstandard, distro
#     and rich come from Debian packages, linked one by one into a directory on PYTHONPATH
#     (adding all of /usr/lib/python3/dist-packages would shadow pyenv's pydantic 2);
#   - pyqwest is not needed: `sous serve` tells the SDK to use httpx's own transport;
#   - a stub tinker-0.25.0.dist-info gives importlib.metadata the version tinker/_version.py reads.
# The first server also serves the tiny Llama fixture (test/fixtures/hf/llama) as the base model
# `tiny-llama`, given in its --base-models file as a Hugging Face directory, which the check
# LoRA-trains and samples as the SDK does any named model (TINKER_HF_BASE_MODEL).
# Usage: bash scripts/run-tinker-sdk-check.sh   (env: REPO, PORT, SKIP_BUILD=1, PYTHON, MIRROR)
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
PORT=${PORT:-8765}
KEY=tml-local-check
MIRROR=${MIRROR:-/work/.mirror/thinking-machines-lab+tinker/repo}
SDK=/tmp/tinker-sdk
DEPS=/tmp/sdk-deps
STATE=$(mktemp -d /tmp/sdk-state.XXXXXX)
PYTHON=${PYTHON:-$(command -v python3)}

# 1. The SDK's source (fetch the mirror first with the `fetch` tool if it is missing).
if [ ! -d "$SDK/src/tinker" ]; then
  mkdir -p "$SDK"
  git --git-dir "$MIRROR" archive HEAD | tar -x -C "$SDK"
fi

# 2. Debian's packages for what the pyenv python lacks.
missing=()
for pkg in python3-httpx python3-h2 python3-protobuf python3-zstandard python3-distro python3-rich; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then apt-get install -y "${missing[@]}"; fi

mkdir -p "$DEPS"
for module in httpx httpcore h11 anyio certifi idna rfc3986 h2 hpack hyperframe google zstandard distro \
  rich pygments markdown_it mdurl; do
  [ -e "/usr/lib/python3/dist-packages/$module" ] && ln -sfn "/usr/lib/python3/dist-packages/$module" "$DEPS/$module"
done
mkdir -p "$DEPS/tinker-0.25.0.dist-info"
printf 'Metadata-Version: 2.1\nName: tinker\nVersion: 0.25.0\n' > "$DEPS/tinker-0.25.0.dist-info/METADATA"
export PYTHONPATH="$SDK/src:$DEPS"
"$PYTHON" -c 'import pydantic, numpy, orjson, typing_extensions, tinker; assert int(pydantic.VERSION[0]) >= 2; print("python", __import__("sys").version.split()[0], "pydantic", pydantic.VERSION, "tinker", tinker.__version__)'

# 3. Build sous and start the server with a fresh state directory.
cd "$REPO"
[ "${SKIP_BUILD:-}" = 1 ] || npm run build
printf '{"tiny-llama": {"hf": "%s/test/fixtures/hf/llama"}}\n' "$REPO" > "$STATE-models.json"
SOUS_SERVE_API_KEY=$KEY node_modules/.bin/node bin/sous serve --port "$PORT" --device wasm --state-dir "$STATE" \
  --base-models "$STATE-models.json" > "$STATE.log" 2>&1 &
server=$!
# A second server that injects 410s into polls (issue 17 item 5): the check trains and samples there too.
FAULTS_PORT=${FAULTS_PORT:-$((PORT + 1))}
FAULTS=${FAULTS:-410=0.3,seed=1}
SOUS_SERVE_API_KEY=$KEY node_modules/.bin/node bin/sous serve --port "$FAULTS_PORT" --device wasm --state-dir "$STATE-faults" \
  --faults "$FAULTS" > "$STATE-faults.log" 2>&1 &
faulty=$!
trap 'kill "$server" "$faulty" 2>/dev/null || true' EXIT
for port in "$PORT" "$FAULTS_PORT"; do
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/api/v1/healthz" >/dev/null && break
    kill -0 "$server" 2>/dev/null && kill -0 "$faulty" 2>/dev/null || { cat "$STATE.log" "$STATE-faults.log"; exit 1; }
    sleep 0.5
  done
done

# 4. The check itself (exit status 0 and "OK" on success). Server logs: $STATE.log, $STATE-faults.log
TINKER_BASE_URL="http://127.0.0.1:$PORT" TINKER_FAULTS_BASE_URL="http://127.0.0.1:$FAULTS_PORT" TINKER_API_KEY=$KEY \
  TINKER_HF_BASE_MODEL=tiny-llama \
  "$PYTHON" scripts/tinker-sdk-check.py
