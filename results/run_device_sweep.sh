#!/usr/bin/env bash
# MRPC and STS-B on one GPU, in one time-boxed call: teacher fine-tune, direct baselines and OFA
# recipes over several seeds. Every job writes its record under RECORDS (results/make_tables.py
# renders results/records/<machine>/ as its own table); jobs run in priority order and the sweep
# stops starting new ones when fewer than MIN_LEFT seconds of BUDGET remain.
#
#   bash results/run_device_sweep.sh MODEL_DIR RECORDS_DIR [BUDGET_S] [MIN_LEFT_S]
#
# MODEL_DIR: the pretrained MiniLM-L6 (float32 weights). GLUE_DIR must be set.
# SWEEP=c6 runs MRPC with a teacher trained 6 epochs (3 seeds); SWEEP=x the next open question:
# r4x (word-replaced copies, distilled) against the direct baseline on STS-B, then MRPC (c6), 3 seeds each.
# After each job the records are packed into $OUT/records.tgz when OUT is set (a device call's output).
#
# On this workplace's GPU machine (nothing can be downloaded there; a call carries at most 64 MiB):
# here `GLUE_DIR=... bash results/prepare_device_carry.sh`, then a call carrying .whl and .carry runs
# `bash results/device_run.sh <commit>`; untar its records.tgz into results/records/h200/ and run
# results/make_tables.py.
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

if [[ "${SWEEP:-}" == c6 ]]; then  # SWEEP=c6: r4 from an MRPC teacher trained 3 epochs more, 3 seeds
  job "teacher mrpc" "$PY" results/run_glue_baselines.py --tasks mrpc --model "$MODEL" \
    --output_root outputs/teachers --records "$REC"
  job "teacher mrpc c6" "$PY" results/run_glue_baselines.py --tasks mrpc --model outputs/teachers/mrpc \
    --epochs 3 --tag c6 --output_root outputs/teachers --records "$REC"
  for seed in 42 43 44; do
    job "r4c6+direct mrpc s$seed" "$PY" results/run_ofa_glue.py --task mrpc --records "$REC" --seed "$seed" \
      --teacher outputs/teachers/mrpc-c6 --tag r4c6 --recipe r4
  done
  echo "== sweep done in $(($(date +%s) - START)) s"
  exit 0
fi
if [[ "${SWEEP:-}" == x ]]; then  # SWEEP=x: r4x (word-replaced copies) vs direct, STS-B first, 3 seeds each
  job "teacher stsb" "$PY" results/run_glue_baselines.py --tasks stsb --model "$MODEL" \
    --output_root outputs/teachers --records "$REC"
  for seed in 42 43 44; do
    job "r4x+direct stsb s$seed" "$PY" results/run_ofa_glue.py --task stsb --records "$REC" --seed "$seed" \
      --tag r4x --recipe r4x
  done
  job "teacher mrpc" "$PY" results/run_glue_baselines.py --tasks mrpc --model "$MODEL" \
    --output_root outputs/teachers --records "$REC"
  job "teacher mrpc c6" "$PY" results/run_glue_baselines.py --tasks mrpc --model outputs/teachers/mrpc \
    --epochs 3 --tag c6 --output_root outputs/teachers --records "$REC"
  for seed in 42 43 44; do
    job "r4xc6+direct mrpc s$seed" "$PY" results/run_ofa_glue.py --task mrpc --records "$REC" --seed "$seed" \
      --teacher outputs/teachers/mrpc-c6 --tag r4xc6 --recipe r4x
  done
  echo "== sweep done in $(($(date +%s) - START)) s"
  exit 0
fi
for task in mrpc stsb; do
  job "teacher $task" "$PY" results/run_glue_baselines.py --tasks "$task" --model "$MODEL" \
    --output_root outputs/teachers --records "$REC"
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
echo "== sweep done in $(($(date +%s) - START)) s"
