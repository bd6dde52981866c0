#!/usr/bin/env bash
# A Ray cluster of two containers of the nasplatform image that loses its worker in the middle of a trial.
#
#   bash docker/cluster-smoke.sh                 # IMAGE=nasplatform:0.1.0, SPEC=experiments/fig5_size_matched.yaml
#
# 1. A head and a worker container of IMAGE, both on the host's network (--network host), the Ray nodes on the
#    loopback addresses 127.0.0.4 (head) and 127.0.0.5 (worker), every port picked free on this machine, 1 CPU
#    each, Ray token authentication on (RAY_AUTH_MODE=token, a fresh token file mounted read-only in both).
#    One host folder is the shared storage volume of both, mounted at /storage: the experiment folder, a small
#    stand-in dataset (random images in the CycleGAN layout under the spec's first dataset name) and the caches.
# 2. `nasplatform run SPEC --smoke --address HEAD` runs in the head container (docker exec).
# 3. `docker kill` of the worker container once a trial there has written a checkpoint and has not finished.
# 4. Checks: that trial ends ok on the head, resumed from that checkpoint's epoch; the driver exits 0; `status`
#    and `collect` (in the head container) report every trial ok; a driver with a wrong token is refused; no
#    container of this run is left after the cleanup (a trap: also on failure or Ctrl-C).
#
# The last line printed is one JSON object: "ok", the checks, and the timings in seconds. Exit code 0 when ok.
# Needs: docker, python3 (standard library only) on the host, and the image (docker/build-local-image.sh, or
# docker build -f docker/Dockerfile). Run as a user that may use docker; files go under one temporary folder.
set -euo pipefail

IMAGE=${IMAGE:-nasplatform:0.1.0}
SPEC=${SPEC:-experiments/fig5_size_matched.yaml}
TIMEOUT=${TIMEOUT:-1200}
HEAD_IP=127.0.0.4
WORKER_IP=127.0.0.5
RAY_UID=1000      # the image's user ray
RAY_GID=100       # group users
NAME=nasplatform-smoke-$$
HEAD=$NAME-head
WORKER=$NAME-worker
WS=$(mktemp -d /tmp/nas-cs.XXXXXX)
T0=$(date +%s.%N)

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$(date +%s.%N)"; }

cleanup() {
    local code=$?
    trap - EXIT INT TERM
    local t=$(date +%s.%N)
    docker rm -f "$HEAD" "$WORKER" > /dev/null 2>&1 || true
    local left
    left=$(docker ps -a --filter "name=$NAME" --format '{{.Names}}' | wc -l)
    [ -f "$WS/report.json" ] || echo '{"ok": false, "checks": {}, "timings_s": {}}' > "$WS/report.json"
    python3 - "$WS/report.json" "$left" "$(elapsed "$t")" "$(elapsed "$T0")" "$code" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
report["checks"]["no_container_left"] = int(sys.argv[2]) == 0
report["timings_s"].update(cleanup=float(sys.argv[3]), total=float(sys.argv[4]))
report["ok"] = report.get("ok", False) and int(sys.argv[2]) == 0 and sys.argv[5] == "0"
print(json.dumps(report, sort_keys=True))
PY
    if [ -n "${KEEP:-}" ]; then log "kept $WS"; else rm -rf "$WS"; fi
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- token, ports, storage, data

docker image inspect "$IMAGE" > /dev/null
mkdir -p "$WS/storage/runs" "$WS/storage/data" "$WS/storage/cache" "$WS/secrets"
python3 -c "import secrets, sys; open(sys.argv[1], 'w').write(secrets.token_hex(32))" "$WS/secrets/ray_auth_token"
chmod 600 "$WS/secrets/ray_auth_token"
chown -R "$RAY_UID:$RAY_GID" "$WS/storage" "$WS/secrets"

# Distinct free ports on this machine: other Ray clusters may be running on it, on Ray's default ports.
read -r GCS_PORT DASH_PORT CLIENT_PORT HEAD_PORTS WORKER_PORTS <<< "$(python3 - <<'PY'
import random, socket
taken = set()
def free():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
        if port not in taken:
            taken.add(port); return port
def span(size=24):
    for start in range(20000 + random.randrange(20000), 60000, size):
        ports = range(start, start + size)
        def ok(p):
            with socket.socket() as s:
                try: s.bind(("127.0.0.1", p)); return True
                except OSError: return False
        if not taken.intersection(ports) and all(ok(p) for p in ports):
            taken.update(ports); return f"{start}-{start + size - 1}"
def node():  # node manager, object manager, agent listen, agent grpc, runtime env agent, metrics; worker ports
    return ",".join(str(free()) for _ in range(6)) + "," + span()
print(free(), free(), free(), node(), node())
PY
)"
node_flags() {  # the per-node port flags from "p1,p2,p3,p4,p5,p6,low-high"
    IFS=, read -r nm om al ag re me workers <<< "$1"
    echo "--node-manager-port $nm --object-manager-port $om --dashboard-agent-listen-port $al" \
         "--dashboard-agent-grpc-port $ag --runtime-env-agent-port $re --metrics-export-port $me" \
         "--min-worker-port ${workers%-*} --max-worker-port ${workers#*-}"
}
ADDRESS=$HEAD_IP:$GCS_PORT

CONTAINER_ARGS=(--network host --shm-size 1g --user "$RAY_UID:$RAY_GID"
    -v "$WS/storage:/storage" -v "$WS/secrets/ray_auth_token:/run/secrets/ray_auth_token:ro"
    -e RAY_AUTH_MODE=token -e RAY_AUTH_TOKEN_PATH=/run/secrets/ray_auth_token -e RAY_USAGE_STATS_ENABLED=0
    -e NASPLATFORM_CACHE=/storage/cache -e MPLCONFIGDIR=/tmp/matplotlib -e OMP_NUM_THREADS=1 -e PYTHONUNBUFFERED=1)
RAY_NODE_ARGS="--block --num-cpus 1 --num-gpus 0 --object-store-memory 200000000 --disable-usage-stats"

DATASET=$(docker run --rm --network host "$IMAGE" python -c \
    "import sys; from nasplatform.tune.spec import load_spec; print(load_spec(sys.argv[1]).datasets[0])" "$SPEC")
log "image $IMAGE, spec $SPEC (--smoke: dataset $DATASET), workspace $WS"
# A stand-in for the dataset: 8 random 40x40 images per training domain, 4 per test domain (what --smoke reads).
docker run --rm -i "${CONTAINER_ARGS[@]}" "$IMAGE" python - "/storage/data/$DATASET" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for split, n in (("trainA", 8), ("trainB", 8), ("testA", 4), ("testB", 4)):
    folder = Path(sys.argv[1]) / split
    folder.mkdir(parents=True)
    for i in range(n):
        low = rng.uniform(0, 255, (5, 5, 3)).astype(np.uint8)
        Image.fromarray(low).resize((40, 40), Image.BICUBIC).save(folder / f"{i:03d}.png")
PY

# ---------------------------------------------------------------- the two nodes

wait_started() {  # container, seconds
    local deadline=$(( $(date +%s) + $2 ))
    until docker logs "$1" 2>&1 | grep -q "Ray runtime started"; do
        if [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" != true ] || [ "$(date +%s)" -gt "$deadline" ]; then
            log "$1 did not start:"; docker logs "$1" 2>&1 | tail -n 40 >&2; return 1
        fi
        sleep 0.5
    done
}
t=$(date +%s.%N)
docker run -d --name "$HEAD" "${CONTAINER_ARGS[@]}" "$IMAGE" ray start --head $RAY_NODE_ARGS \
    --node-ip-address "$HEAD_IP" --port "$GCS_PORT" --dashboard-port "$DASH_PORT" --ray-client-server-port "$CLIENT_PORT" \
    --include-dashboard false $(node_flags "$HEAD_PORTS") > /dev/null
wait_started "$HEAD" 180
HEAD_START_S=$(elapsed "$t")
log "head: container $HEAD, Ray node at $ADDRESS, up in ${HEAD_START_S} s"
t=$(date +%s.%N)
docker run -d --name "$WORKER" "${CONTAINER_ARGS[@]}" "$IMAGE" ray start $RAY_NODE_ARGS \
    --node-ip-address "$WORKER_IP" --address "$ADDRESS" $(node_flags "$WORKER_PORTS") > /dev/null
wait_started "$WORKER" 180
WORKER_JOIN_S=$(elapsed "$t")
log "worker: container $WORKER, Ray node at $WORKER_IP, joined in ${WORKER_JOIN_S} s"

# ---------------------------------------------------------------- the grid, the kill, the verdict

python3 - "$WS" "$HEAD" "$WORKER" "$ADDRESS" "$SPEC" "$HEAD_IP" "$WORKER_IP" "$TIMEOUT" \
    "$HEAD_START_S" "$WORKER_JOIN_S" <<'PY'
import json, re, subprocess, sys, time
from pathlib import Path

ws, head, worker, address, spec, head_ip, worker_ip = sys.argv[1:8]
timeout, head_start_s, worker_join_s = float(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10])
ws = Path(ws)
nodes_by_ip = {head_ip: "head", worker_ip: "worker"}
timings = {"head_start": head_start_s, "worker_join": worker_join_s}
checks, found = {}, {}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def in_head(*command, env=(), timeout=600):
    """A command in the head container (the image's WORKDIR, the container's environment: token auth on)."""
    flags = [f for item in env for f in ("-e", item)]
    return subprocess.run(["docker", "exec", *flags, head, *command], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# both nodes alive, each at its address
probe = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); print(json.dumps(sorted("
         "[n['NodeManagerAddress'], n['Resources'].get('CPU')] for n in ray.nodes() if n['Alive'])))" % address)
out = in_head("python", "-c", probe, timeout=180)
alive = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else []
found["nodes"] = alive
checks["both_nodes_alive"] = sorted(ip for ip, _ in alive) == sorted(nodes_by_ip)
log(f"live nodes (address, CPUs): {alive}")
# the cluster checks the token: the same probe with another token (RAY_AUTH_TOKEN wins over the file) is refused
out = in_head("env", "RAY_AUTH_TOKEN=" + "0" * 64, "timeout", "90", "python", "-c", probe, timeout=180)
checks["driver_with_a_wrong_token_refused"] = out.returncode != 0
said = [re.sub(r"^\[[^]]*\]\s*", "", line.strip()) for line in out.stderr.splitlines() if re.search(r"(?i)auth|token", line)]
log(f"a driver with a wrong token: exit code {out.returncode}; " + " | ".join(dict.fromkeys(said))[:400])

# the grid, through the head
experiment_root = ws / "storage" / "runs"
command = ["docker", "exec", head, "nasplatform", "run", spec, "--smoke", "--address", address, "--storage",
           "/storage/runs", "--storage-is-shared", "--data-root", "/storage/data", "--verbose", "0"]
log("driver: " + " ".join(command))
t = time.monotonic()
with open(ws / "driver.log", "wb") as out:
    driver = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def traces():
    """Every trial's result.json rows (Tune adds node_ip and pid to each), by stage/folder."""
    found = {}
    for result in sorted(experiment_root.glob("*/*/*/result.json")):
        rows = []
        for line in result.read_text(errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # the last line may be half written
                pass
        found[result.parent] = rows
    return found


def finished(rows):
    return any("trial_status" in row for row in rows)


kill = {}
while driver.poll() is None:
    if time.monotonic() - t > timeout:
        driver.kill()
        log(f"the grid ran past {timeout:g} s")
        break
    if not kill:
        for folder, rows in traces().items():
            if (rows and not finished(rows) and rows[-1].get("node_ip") == worker_ip and rows[-1].get("epoch", 0) >= 1
                    and any(p.name.startswith("checkpoint_") for p in folder.iterdir())):
                subprocess.run(["docker", "kill", worker], check=True, capture_output=True)
                kill = {"at": time.monotonic(), "folder": folder, "trial": f"{folder.parent.name}/{folder.name}",
                        "checkpoint_epoch": int(rows[-1]["epoch"]), "killed_pid": int(rows[-1]["pid"])}
                log(f"docker kill {worker}: trial {kill['trial']} runs there after its epoch-"
                    f"{kill['checkpoint_epoch']} checkpoint")
                break
    elif "resumed_after" not in kill:
        rows = traces().get(kill["folder"], [])
        if any(int(r.get("pid", 0)) != kill["killed_pid"] for r in rows):
            kill["resumed_after"] = round(time.monotonic() - kill["at"], 1)
            log(f"trial {kill['trial']} reports again, {kill['resumed_after']:g} s after the kill")
    time.sleep(0.2)
driver.wait()
timings["grid"] = round(time.monotonic() - t, 1)
checks["driver_exit_code_0"] = driver.returncode == 0
log(f"driver exit code {driver.returncode} after {timings['grid']:g} s")
if driver.returncode != 0:
    log("end of the driver's output:\n" + (ws / "driver.log").read_text(errors="replace")[-3000:])

# which node ran what
all_traces = traces()
trials = []
for folder, rows in sorted(all_traces.items()):
    final = next((r for r in reversed(rows) if "trial_status" in r), {})
    plan = (rows[0].get("config") or {}).get("plan") if rows else None
    trials.append({"trial": f"{folder.parent.name}/{folder.name}",
                   "nodes": list(dict.fromkeys(nodes_by_ip.get(r.get("node_ip"), str(r.get("node_ip"))) for r in rows)),
                   "status": final.get("trial_status"), "epochs_done": final.get("epochs_done"),
                   "epochs_planned": plan.get("epochs_planned") if isinstance(plan, dict) else None,
                   "resumed_from_epoch": final.get("resumed_from_epoch")})
    log(f"trial {trials[-1]['trial']:<50} nodes {'->'.join(trials[-1]['nodes']):<13} "
        f"status {trials[-1]['status']}  resumed from epoch {trials[-1]['resumed_from_epoch']}")
found["trials"] = trials
checks["worker_killed_mid_trial"] = bool(kill)
if kill:
    rows = all_traces[kill["folder"]]
    after = [r for r in rows if int(r.get("pid", 0)) != kill["killed_pid"]]
    final = next((r for r in reversed(rows) if "trial_status" in r), {})
    victim = next(x for x in trials if x["trial"] == kill["trial"])
    checks["killed_trial_resumed_on_head"] = bool(after) and {r.get("node_ip") for r in after} == {head_ip}
    checks["killed_trial_resumed_from_its_checkpoint"] = bool(after) and all(
        r.get("resumed_from_epoch") == kill["checkpoint_epoch"] for r in after)
    checks["killed_trial_ok"] = final.get("trial_status") == "ok" and victim["epochs_done"] == victim["epochs_planned"]
    timings["kill_to_trial_reporting_on_head"] = kill.get("resumed_after")
    found["killed"] = {k: v for k, v in kill.items() if k not in ("at", "folder")}
checks["every_trial_ok"] = bool(trials) and all(x["status"] == "ok" for x in trials)

# status and collect read the experiment folder in the head container
experiments = sorted(p.name for p in experiment_root.iterdir() if p.is_dir())
exp = f"/storage/runs/{experiments[0]}" if experiments else "/storage/runs/missing"
t = time.monotonic()
out = in_head("nasplatform", "status", exp)
timings["status"] = round(time.monotonic() - t, 1)
log("nasplatform status:\n" + out.stdout + out.stderr)
counts = re.findall(r"^\s+(search|retrain): (\d+) trial\(s\): (.*)$", out.stdout, re.M)
checks["status_every_trial_ok"] = (out.returncode == 0 and bool(counts)
                                   and all(rest == f"{n} ok" for _, n, rest in counts))
t = time.monotonic()
out = in_head("nasplatform", "collect", exp)
timings["collect"] = round(time.monotonic() - t, 1)
log("nasplatform collect: " + (out.stdout + out.stderr).strip())
written = re.search(r"(\d+) trial row\(s\) \((\d+) ok\)", out.stdout)
checks["collect_every_row_ok"] = (out.returncode == 0 and written is not None
                                  and written.group(1) == written.group(2) == str(len(trials)))

report = {"ok": all(checks.values()), "checks": checks, "timings_s": timings, **found}
(ws / "report.json").write_text(json.dumps(report))
for name, held in checks.items():
    log(f"{'ok  ' if held else 'FAIL'} {name}")
sys.exit(0 if report["ok"] else 1)
PY
