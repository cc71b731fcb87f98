#!/usr/bin/env bash
# MRPC and STS-B on one GPU, in one time-boxed run: teacher fine-tune, direct baselines and OFA
# recipes over several seeds. Every job writes its record under RECORDS (results/make_tables.py
# renders results/records/<machine>/ as its own table); jobs run in priority order and the sweep
# stops starting new ones when fewer than MIN_LEFT seconds of BUDGET remain.
#
#   bash results/run_device_sweep.sh MODEL_DIR RECORDS_DIR [BUDGET_S] [MIN_LEFT_S]
#
# MODEL_DIR: the pretrained MiniLM-L6 (float32 weights). GLUE_DIR must be set.
# SWEEP=c6 runs MRPC with a teacher trained 6 epochs (3 seeds); SWEEP=x the next open question:
# r4x (word-replaced copies, distilled) against the direct baseline on STS-B, its control r4x0 (as many
# steps, copies unchanged), r4e2 (as many steps, every pass labelled), then r4x on MRPC (c6), 3 seeds each.
# SWEEP=m: MRPC from the c6 teacher with 4 word-replaced copies per row (r4x4), then r4e2; 3 seeds each.
# After each job the records are packed into $OUT/records.tgz when OUT is set (a folder to copy back).
#
# On an offline GPU machine (one that can download nothing): on a connected machine run
# `GLUE_DIR=... bash results/prepare_device_carry.sh`, copy the tree with its .whl and .carry folders to
# the GPU machine and run `bash results/device_run.sh <commit>` there; copy back records.tgz, untar it
# into results/records/<machine>/ and run results/make_tables.py.
set -uo pipefail
MODEL=$1 REC=$2 BUDGET=${3:-500} MIN_LEFT=${4:-75}
PY=${PYTHON:-python3}
START=$(date +%s)
mkdir -p "$REC"

job() {  # job NAME CMD...: run one step if the budget allows, then pack the records
  local name=$1; shift
  local left=$((BUDGET - $(date +%s) + START))
  if ((left < MIN_LEFT)); then echo "== skip $name ($left s left)"; return 0; fi
  echo "== $name ($left s left)"
  local t0=$(date +%s)
  timeout "$((left - 10))" "$@" || echo "== $name FAILED (rc $?)"
  echo "== $name took $(($(date +%s) - t0)) s"
  if [[ -n "${OUT:-}" ]]; then tar czf "$OUT/records.tgz" -C "$REC" .; fi
}

teacher() {  # teacher TASK: fine-tune MiniLM-L6 on TASK
  job "teacher $1" "$PY" results/run_glue_baselines.py --tasks "$1" --model "$MODEL" \
    --output_root outputs/teachers --records "$REC"
}
teacher_c6() {  # the MRPC teacher trained 3 epochs more (after `teacher mrpc`)
  job "teacher mrpc c6" "$PY" results/run_glue_baselines.py --tasks mrpc --model outputs/teachers/mrpc \
    --epochs 3 --tag c6 --output_root outputs/teachers --records "$REC"
}
seeds() {  # seeds TASK TAG RECIPE [ARGS...]: OFA and its direct baseline for seeds 42-44
  local task=$1 tag=$2 recipe=$3; shift 3
  for seed in 42 43 44; do
    job "$tag+direct $task s$seed" "$PY" results/run_ofa_glue.py --task "$task" --records "$REC" --seed "$seed" \
      --tag "$tag" --recipe "$recipe" "$@"
  done
}
done_exit() { echo "== sweep done in $(($(date +%s) - START)) s"; exit 0; }

if [[ "${SWEEP:-}" == c6 ]]; then  # SWEEP=c6: r4 from an MRPC teacher trained 3 epochs more, 3 seeds
  teacher mrpc; teacher_c6
  seeds mrpc r4c6 r4 --teacher outputs/teachers/mrpc-c6
  done_exit
fi
if [[ "${SWEEP:-}" == m ]]; then  # SWEEP=m: MRPC's depth 0.5 from the c6 teacher: 4 augmented copies, then 2x steps
  teacher mrpc; teacher_c6
  seeds mrpc r4x4c6 r4x4 --teacher outputs/teachers/mrpc-c6
  seeds mrpc r4e2c6 r4e2 --teacher outputs/teachers/mrpc-c6 --skip_direct  # judged against r4x4c6's baselines
  done_exit
fi
if [[ "${SWEEP:-}" == x ]]; then  # SWEEP=x: r4x (word-replaced copies) vs direct, STS-B first, 3 seeds each
  teacher stsb
  seeds stsb r4x r4x
  seeds stsb r4x0 r4x0 --skip_direct  # judged against r4x's baselines: same teacher, seed and data
  seeds stsb r4e2 r4e2 --skip_direct  # r4 twice as long, labels on every pass: r4x0's control
  teacher mrpc; teacher_c6
  seeds mrpc r4xc6 r4x --teacher outputs/teachers/mrpc-c6
  done_exit
fi
for task in mrpc stsb; do
  teacher "$task"
done
for seed in 42 43 44; do  # the best recipe (r4) against the direct baseline, seed by seed
  for task in mrpc stsb; do
    job "r4+direct $task s$seed" "$PY" results/run_ofa_glue.py --task "$task" --records "$REC" --seed "$seed" \
      --tag r4 --recipe r4
  done
done
for seed in 42 43; do  # the main recipe, as in results/records/ofa_*.json
  for task in mrpc stsb; do
    job "ofa $task s$seed" "$PY" results/run_ofa_glue.py --task "$task" --records "$REC" --seed "$seed" --skip_direct
  done
done
done_exit
