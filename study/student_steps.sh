#!/bin/bash
# Is the 1-epoch student of the study short of optimiser steps? Naive W2S and the ceiling of the study's cell
# weak1000-base-ep1, seed 1 (its weak supervisor and weak answers, copied from runs/study), trained harder:
# 2 epochs at the study's lr 3e-4, 3 epochs at lr 1e-3, 1 epoch at lr 1e-3. Needs `make study` to have run that
# cell's weak supervisor. Writes runs/student_steps/<setting>/ and one line per run to runs/student_steps/summary.txt
# (compare with study/student_steps.txt). About 25 minutes on 2 cores (bf16-mixed).
#     bash study/student_steps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=runs/study/cells/weak1000-base-ep1/seed_1/sst2
OUT=runs/student_steps
test -f "$SRC/results/SmolLM2-135M_weak_supervisor_performance.json" || { echo "run the study's first cell first" >&2; exit 1; }
run() {
  local name=$1 script=$2; shift 2
  local dst=$OUT/$name/sst2
  mkdir -p "$dst/results" "$dst/models"
  cp -r "$SRC/cache" "$SRC"/*.csv "$dst/"  # the weak supervisor's adapter, answers and caches: not asked again
  cp -r "$SRC/models/SmolLM2-135M-sst2-train-sft" "$dst/models/"
  cp "$SRC"/results/SmolLM2-135M_weak_supervisor_performance.* "$dst/results/"
  local start=$SECONDS
  .venv/bin/python "sst2/$script" --config runs/study/stage_flags.yaml --seed 1 --train_limit 1000 \
      --output_dir "$OUT/$name" "$@" > "$OUT/$name.$script.log" 2>&1 || { tail -n 5 "$OUT/$name.$script.log" >&2; exit 1; }
  echo "$name $script $*: $(grep -o 'accuracy [0-9.]* on [0-9]* test questions' "$OUT/$name.$script.log" | tail -1)" \
       "($((SECONDS - start)) s)" | tee -a "$OUT/summary.txt"
}
run ep2 baseline_SFT_weak_supervision.py --epochs 2
run ep2 baseline_SFT_on_groundtruth.py --epochs 2
run lr1e3-ep3 baseline_SFT_weak_supervision.py --lr 0.001 --epochs 3
run lr1e3-ep3 baseline_SFT_on_groundtruth.py --lr 0.001 --epochs 3
run lr1e3-ep1 baseline_SFT_weak_supervision.py --lr 0.001 --epochs 1
run lr1e3-ep1 baseline_SFT_on_groundtruth.py --lr 0.001 --epochs 1
