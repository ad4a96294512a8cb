#!/usr/bin/env bash
# The renderer's GPU check, as one call on a lent device machine (JAX there, no TensorFlow, no network).
#
# Here, once:  make device-wheels   (Keras and the two packages it needs that the device lacks, into .whl/)
# There:       bash benchmarks/device_check.sh [benchmarks/render.py arguments]
#              with .whl carried. Three stages, within 5 minutes of device time (DEVICE_BUDGET seconds
#              after the first stage, default 230):
#   1. a small render (tests/helpers/backend_smoke.py): finite, repeatable, the phased gradient;
#   2. benchmarks/device.py: a figure-7 layer at the paper's settings (256 px, 1024 steps, a batch sized
#      to the card) for two models in one process: compilations (none for the second model), steady-state
#      images/s, the share of the FLOP floor at the card's TF32/BF16 peak, the objectives against a CPU
#      render of the same seed (benchmarks/device_reference.json); DEVICE_ARGS adds to its arguments;
#   3. benchmarks/render.py, for the time left (BENCH_TIMEOUT seconds if set). Without arguments: the
#      paper's settings on Mixed_4d_Branch_2_b_3x3, (a) against (c) at batch 64.
#
# Writes to $OUT (build/device where $OUT is unset): device.txt (the GPU), smoke.json, paper.txt (stage 2,
# its last line DEVICE {json}) and bench.txt. Exits non-zero when the small render or stage 2 fails.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
out=${OUT:-build/device}
mkdir -p "$out"
if [ -d .whl ]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1

if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
else
  echo "no nvidia-smi: not an NVIDIA machine" | tee "$out/device.txt"
fi

echo "== a small render on the device (tests/helpers/backend_smoke.py)"
"$python" tests/helpers/backend_smoke.py > "$out/smoke.log" 2>&1
status=$?
tail -n 1 "$out/smoke.log" | tee "$out/smoke.json"
if [ $status -ne 0 ]; then
  tail -n 30 "$out/smoke.log"
  exit $status
fi
"$python" - "$out/smoke.json" <<'PY' || exit 1
import json, sys
report = json.load(open(sys.argv[1]))
problems = [
    what
    for what, ok in [
        ("non-finite objectives", report["finite"]),
        ("failed channels", not report["failed"]),
        ("pixels outside [0, 1]", 0.0 <= report["range"][0] <= report["range"][1] <= 1.0),
    ]
    if not ok
]
print(f"devices {report['devices']}; same-seed gap {report['same_seed_gap']:.2e}; "
      f"phased gradient against autodiff {report['phased_gradient_gap']:.2e} (TF32 convolutions give about 1e-3)")
sys.exit(f"small render: {', '.join(problems)}" if problems else 0)
PY

started=$SECONDS
echo "== two models, one figure-7 layer at the paper's settings (benchmarks/device.py ${DEVICE_ARGS:-})"
# shellcheck disable=SC2086  # DEVICE_ARGS is a list of arguments
timeout "${DEVICE_TIMEOUT:-200}" "$python" benchmarks/device.py ${DEVICE_ARGS:-} 2>&1 | tee "$out/paper.txt"
paper=${PIPESTATUS[0]}

if [ $# -eq 0 ]; then
  set -- --paper --strategies lucid ours --batch 64 --layers Mixed_4d_Branch_2_b_3x3
fi
left=$(( ${DEVICE_BUDGET:-230} - (SECONDS - started) ))
limit=${BENCH_TIMEOUT:-$left}
if [ "$limit" -ge 30 ]; then
  echo "== benchmarks/render.py --backend jax $* (for $limit s)"
  timeout "$limit" "$python" benchmarks/render.py --backend jax "$@" 2>&1 | tee "$out/bench.txt"
else
  echo "== no time left for benchmarks/render.py ($limit s)" | tee "$out/bench.txt"
fi
exit "$paper"
