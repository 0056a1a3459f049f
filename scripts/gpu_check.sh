#!/bin/bash
# The GPU check (docs/install.md), as one time-limited job (GPU_CHECK_BUDGET_S, 540 s by default) on a GPU
# machine without network. Prepare here with `python scripts/gpu_pack.py`: the job needs the working tree and
# .gpu/ (62 MiB with the tracked files, within a 64 MiB limit); then run there: bash scripts/gpu_check.sh
# Steps, each with its own time limit, logged with its exit status and seconds whatever happens:
#   1 install the carried wheels (Jittor, numpy < 2, pycocotools) into /tmp/site
#   2 python -m goldyolo setup cuda (Jittor's fixes, CUDA home, first CUDA import and its check): set-up time
#   3 parity on the GPU: tests/models/test_official_outputs.py for N and S (eval, deploy, training-mode outputs),
#     float32 math (use_tensorcore=0), reference tolerances
#   4 20 training steps of N at 640 on real labels, float32 and mixed precision: finite, loss falls
#   5 speed of N and S at 640, batch 1 and 32, forward (deploy, fp32 and fp16) and training step, Jittor
#     and the official PyTorch model in the same run; then both interleaved in warm workers (speed-ab), N and S
#     at batch 32 and the N training step
#   6 the original protocol (S, 640 px, the 800/200 split) for the time left, evaluated every epoch
# Results come back as at most 8 files in $OUT: summary.json (steps, seconds, exit statuses), all.tar.gz
# (every log and json). GPU_CHECK_DEVICE=cpu rehearses it here on the CPU with tiny sizes (no install, no
# setup cuda).
set -u -o pipefail
OUT=${OUT:-runs/gpu_check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
BUDGET=${GPU_CHECK_BUDGET_S:-540}
mkdir -p "$OUT/work"
W="$OUT/work"
T0=$(date +%s)
STEPS=()
elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(elapsed) )); }

# step NAME LIMIT_S COMMAND...: run with a time limit, log to $W/NAME.log, record status and seconds
step() {
    local name=$1 limit=$2; shift 2
    local start; start=$(date +%s)
    if (( $(left) < 20 )); then STEPS+=("\"$name\": {\"status\": \"skipped: out of time\"}"); return; fi
    (( limit > $(left) - 10 )) && limit=$(( $(left) - 10 ))
    echo "[$(elapsed) s] $name (limit ${limit} s): $*" | tee -a "$W/steps.log"
    timeout "$limit" "$@" > "$W/$name.log" 2>&1
    local rc=$?
    STEPS+=("\"$name\": {\"rc\": $rc, \"seconds\": $(( $(date +%s) - start )), \"limit_s\": $limit}")
    echo "[$(elapsed) s] $name: exit $rc" | tee -a "$W/steps.log"
    tail -3 "$W/$name.log"
}

if [[ $DEVICE == cuda ]]; then
    IMG=640; SUBSET=80; BENCH_RUNS=10; AMP=--amp
    export GOLDYOLO_ALLOW_SLOW_CPU=1   # no oneDNN there; the CPU is not used for the work
    step install 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --no-build-isolation --upgrade --target /tmp/site .gpu/wheels/*
    export PYTHONPATH=/tmp/site:$PWD
    nvidia-smi > "$W/nvidia-smi.txt" 2>&1
    step setup_cuda 300 python3 -m goldyolo setup cuda
else
    IMG=128; SUBSET=16; BENCH_RUNS=2; AMP=--no-amp
    export PYTHONPATH=$PWD
fi
PY=python3
command -v python3 > /dev/null || PY=python
DATA=(--data .gpu/coco/train.json --images .gpu/coco/images)
export GOLDYOLO_REFERENCE=$PWD/.gpu/reference

PARITY=()
for size in n s; do
    PARITY+=("tests/models/test_official_outputs.py::test_eval_and_deploy_match_official[$size]"
             "tests/models/test_official_outputs.py::test_train_outputs_match_official[$size]")
done
step parity 120 env use_tensorcore=0 GOLDYOLO_TEST_DEVICE=$DEVICE $PY -m pytest -q -p no:cacheprovider "${PARITY[@]}"
for precision in fp32 amp; do
    flag=--no-amp; [[ $precision == amp ]] && flag=$AMP
    step "steps_$precision" 120 $PY -m goldyolo train --model gold_yolo-n "${DATA[@]}" --subset $SUBSET \
        --img-size $IMG --batch-size 16 --epochs 5 --eval-interval 0 --no-augment --nominal-batch 16 \
        --bs-per-gpu 16 --min-warmup-steps 0 --warmup-epochs 0 --device $DEVICE $flag --out "$W/steps_$precision"
done
for model in gold_yolo-n gold_yolo-s; do
    for precision in fp32 fp16; do
        flag=""; [[ $precision == fp16 ]] && flag=--fp16
        step "bench_${model}_$precision" 150 $PY -m goldyolo bench --model $model --img-size $IMG --batch 1,32 \
            --device $DEVICE --fused --train-step $flag --warmup 3 --runs $BENCH_RUNS --torch-reference .gpu/official \
            --out "$W/bench_${model}_${IMG}_$precision.json"
    done
done
step speed_ab 150 $PY -m goldyolo speed-ab --torch-reference .gpu/official --device $DEVICE --runs 20 \
    --invocations 1 --settings gold_yolo-n:$IMG:32:deploy,gold_yolo-n:$IMG:8:train_step,gold_yolo-s:$IMG:32:deploy \
    --out "$W/speed_ab.json"
step train_s640 $(( $(left) - 15 )) $PY -m goldyolo train --model gold_yolo-s "${DATA[@]}" \
    --val-data .gpu/coco/test.json --val-images .gpu/coco/images --img-size $IMG --epochs 30 --batch-size 16 \
    --workers 8 --eval-interval 1 --device $DEVICE --out "$W/train_s640"

rm -f "$W"/*/last.pkl "$W"/*/best.pkl  # checkpoints do not come back (16 MiB per file)
{
    echo "{\"device\": \"$DEVICE\", \"budget_s\": $BUDGET, \"total_s\": $(elapsed), \"data\": \"$(cat .gpu/coco/README.txt)\","
    echo " \"steps\": {$(IFS=,; echo "${STEPS[*]}")}}"
} > "$OUT/summary.json"
tar -czf "$OUT/all.tar.gz" -C "$OUT" work && rm -rf "$W"
cat "$OUT/summary.json"
