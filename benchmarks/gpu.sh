#!/usr/bin/env bash
# The prepared GPU run: <= 8 minutes on one H200, from the repository root. It prints (one JSON object per
# benchmark, and PERFORMANCE.md's refreshed figures at the end):
#   - supernet OF iterations/s at 256x256, batch 1: merged vs reference, fp32 vs bf16 (plus a TF step), and the
#     peak GPU memory of each (torch.cuda.max_memory_allocated)       -> results/iteration_gpu.json
#   - discrete C_H iterations/s (H = 16, 32, 64, 128; C64 = the official CycleGAN), same file
#   - the supernet at H=64 against C64 ("the same hidden dim"), bf16   -> results/iteration_gpu_h64.json
#   - channels_last on, bf16                                          -> results/iteration_gpu_channels_last.json
#   - Inception images/s and the projected GPU-hours of each paper figure's grid (experiments/fig*.yaml)
#                                                                     -> results/projection_gpu.json
#   - torch.compile, if the time budget still allows                  -> results/iteration_gpu_compile.json
# Targets: merged >= 1.5x the reference speed at <= 0.4x its peak memory; one 400-epoch OF search on horse2zebra
# projected at <= 2 GPU-hours.
#
# Usage:  benchmarks/gpu.sh               on the GPU machine (python3 there holds torch with CUDA)
#         benchmarks/gpu.sh --cpu-smoke   the same steps with --device cpu --quick, to check the script anywhere
# Environment: PYTHON (default python3); OUT, if set, receives the result files and PERFORMANCE.md.
# Python packages the machine lacks can travel as wheels in .whl/ (see the device notes); they are installed first.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
MODE="${1:-gpu}"
START=$SECONDS
BUDGET_S=480

case "$MODE" in
  gpu)
    RUN=(--device cuda --cudnn-benchmark)
    DIMS="16,32,64,128"; H64=64; REPEATS=(--repeats 10 --warmup 3); SUFFIX=""; INCEPTION=(--device cuda)
    LIMITED=1 ;;
  --cpu-smoke)
    RUN=(--device cpu --quick)
    DIMS="4,8"; H64=4; REPEATS=(); SUFFIX="_quick"; INCEPTION=(--device cpu --quick)
    # the smoke run checks that the steps run, not how fast: a busy CPU may take any time (no step limits)
    LIMITED=0 ;;
  *)
    echo "usage: $0 [--cpu-smoke]" >&2; exit 2 ;;
esac

if compgen -G ".whl/*.whl" > /dev/null; then
  echo "== installing the carried wheels (.whl/) into /tmp/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1

echo "== machine"
if [ "$MODE" = gpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PY" -c "import sys, torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
    || { echo "this script needs a CUDA GPU (use --cpu-smoke to check it elsewhere)" >&2; exit 3; }
else
  "$PY" -c "import torch; print('torch', torch.__version__, '(cpu smoke run)')"
fi

left() { echo $(( BUDGET_S - (SECONDS - START) )); }

# step NAME SECONDS ARGS...: one benchmark under a time limit (on the GPU); a failure is reported and the run goes on
step() {
  local name="$1" limit="$2"; shift 2
  if [ "$LIMITED" = 0 ]; then
    echo "== $name (no limit: --cpu-smoke)"
    limit=0  # `timeout 0` runs without a limit
  else
    echo "== $name (limit ${limit} s, $(left) s of the budget left)"
  fi
  if ! timeout "$limit" "$PY" "$@"; then
    echo "!! $name failed or ran past ${limit} s" >&2
    FAILED+=("$name")
  fi
}
FAILED=()

step "supernet merged/reference x fp32/bf16, TF step, discrete C_H" 240 -m benchmarks.iteration "${RUN[@]}" \
  --modes merged,reference --precisions fp32,bf16 --schemes OF,TF --discrete-hidden-dims "$DIMS" "${REPEATS[@]}" \
  --no-profile --name "iteration_gpu$SUFFIX"
step "supernet at H=64 vs C64, bf16" 90 -m benchmarks.iteration "${RUN[@]}" --hidden-dim "$H64" --modes merged \
  --precisions bf16 --discrete-hidden-dims "$H64" "${REPEATS[@]}" --no-profile --name "iteration_gpu_h64$SUFFIX"
step "channels_last, bf16" 60 -m benchmarks.iteration "${RUN[@]}" --channels-last --modes merged --precisions bf16 \
  --discrete-hidden-dims "$H64" "${REPEATS[@]}" --no-profile --name "iteration_gpu_channels_last$SUFFIX"
step "Inception images/s and projected GPU-hours" 60 -m benchmarks.projection \
  --from "benchmarks/results/iteration_gpu$SUFFIX.json" "${INCEPTION[@]}" --name "projection_gpu$SUFFIX"
if [ "$MODE" = gpu ] && [ "$(left)" -gt 60 ]; then
  step "torch.compile, bf16" "$(( $(left) - 20 ))" -m benchmarks.iteration "${RUN[@]}" --compile --modes merged \
    --precisions bf16 --discrete-hidden-dims "$H64" --repeats 5 --warmup 2 --no-profile \
    --name "iteration_gpu_compile$SUFFIX"
else
  echo "== torch.compile skipped ($MODE, $(left) s of the budget left)"
fi

if [ "$MODE" = gpu ]; then
  "$PY" -m benchmarks --report-only
  if [ -n "${OUT:-}" ]; then
    cp benchmarks/results/iteration_gpu*.json benchmarks/results/projection_gpu.json PERFORMANCE.md "$OUT"/ 2>/dev/null || true
  fi
fi
echo "== done in $(( SECONDS - START )) s; failed: ${FAILED[*]:-none}"
[ "${#FAILED[@]}" -eq 0 ]
