#!/usr/bin/env bash
# The renderer's GPU check, as one call on a lent device machine (JAX there, no TensorFlow, no network).
#
# Here, once:  make device-wheels   (Keras and the two packages it needs that the device lacks, into .whl/)
# There:       bash benchmarks/device_check.sh [benchmarks/render.py arguments]
#              with .whl carried. Without arguments: the paper's settings (256 px, 1024 steps) on
#              Mixed_4d_Branch_2_b_3x3, (a) against (c) at batch 64, which fits one call.
#
# Writes to $OUT (build/device where $OUT is unset): device.txt (the GPU), smoke.json (a small render on the
# GPU: finite, repeatable, the phased gradient against JAX's autodiff) and bench.txt (the benchmark's table).
# Exits non-zero when the small render fails; the benchmark stops after $BENCH_TIMEOUT seconds (default 420).
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

if [ $# -eq 0 ]; then
  set -- --paper --strategies lucid ours --batch 64 --layers Mixed_4d_Branch_2_b_3x3
fi
echo "== benchmarks/render.py --backend jax $*"
timeout "${BENCH_TIMEOUT:-420}" "$python" benchmarks/render.py --backend jax "$@" 2>&1 | tee "$out/bench.txt"
