#!/usr/bin/env bash
# docker/Dockerfile built on a machine without access to Docker Hub, on the stand-in base image of
# docker/build-local-base.sh. torch and its CUDA wheels (several GB) come from this machine's own disk where
# its pip finds them there (a local wheel mirror), the rest from the package registry, as on the host.
#
#   bash docker/build-local-image.sh [TAG]     # default TAG nasplatform:0.1.0
#   BASE=IMAGE bash docker/build-local-image.sh  # another base (default nasplatform-base:ray2.60.0-py311)
#
# It asks this machine's pip what it would install for the torch and torchvision pins of pyproject.toml
# (`pip install --dry-run --report`); the wheels it would take from local files are served on 127.0.0.1 for
# the duration of the build, and docker/Dockerfile installs them first (build-arg PREINSTALL_WHEELS). The
# build uses the host's network (--network host); the server is stopped when the script ends.
set -euo pipefail

TAG=${1:-nasplatform:0.1.0}
BASE=${BASE:-nasplatform-base:ray2.60.0-py311}
PIP=${PIP:-python3 -m pip}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/nasplatform-wheels.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null || true; wait "$server_pid" 2> /dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

pins=$(python3 - "$REPO/pyproject.toml" <<'PY'
import sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print(" ".join(d for d in deps if d.split("==")[0].strip() in ("torch", "torchvision")))
PY
)
$PIP install --dry-run --ignore-installed --quiet --report "$WORK/report.json" $pins 2> "$WORK/pip.log" \
    || { cat "$WORK/pip.log" >&2; exit 1; }
mkdir "$WORK/wheels"
# One symbolic link per local wheel: the server shows these files and nothing else of the disk.
names=$(python3 - "$WORK" <<'PY'
import json, os, sys
from urllib.parse import unquote, urlparse
work = sys.argv[1]
for item in json.load(open(os.path.join(work, "report.json")))["install"]:
    url = urlparse(item["download_info"]["url"])
    if url.scheme == "file" and url.path.endswith(".whl"):
        path = unquote(url.path)
        os.symlink(path, os.path.join(work, "wheels", os.path.basename(path)))
        print(os.path.basename(path))
PY
)
wheel_urls=""
if [ -n "$names" ]; then
    # The wheel URLs are a build argument, part of Docker's cache key: a fixed port (WHEEL_PORT, default 47391)
    # lets a rebuild reuse the multi-GB torch layer; a random free one only when that port is taken.
    port=$(python3 - "${WHEEL_PORT:-47391}" <<'PY'
import socket, sys
with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
)
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$WORK/wheels" > "$WORK/http.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2> /dev/null && break
        sleep 0.2
    done
    for name in $names; do wheel_urls="$wheel_urls http://127.0.0.1:$port/$name"; done
    echo "build-local-image: $(echo $names | wc -w) wheel(s) from this machine's disk," \
        "$(du -chL "$WORK"/wheels/*.whl | tail -n 1 | cut -f1): $(echo $names | tr ' ' '\n' | cut -d- -f1-2 | tr '\n' ' ')"
else
    echo "build-local-image: no wheel of $pins on this machine's disk; all from the package registry"
fi

started=$(date +%s)
docker build --network host --build-arg RAY_IMAGE="$BASE" --build-arg PREINSTALL_WHEELS="${wheel_urls# }" \
    -f "$REPO/docker/Dockerfile" -t "$TAG" "$REPO"
echo "build-local-image: $TAG built in $(( $(date +%s) - started )) s," \
    "$(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.2f GB", $1 / 1e9}')"
