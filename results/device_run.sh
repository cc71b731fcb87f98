#!/usr/bin/env bash
# On an offline GPU machine, after results/prepare_device_carry.sh on a connected machine and a copy of
# the tree with its .whl and .carry folders to the GPU machine:
#   bash results/device_run.sh <commit> [BUDGET_S]
# installs the copied wheels, casts MiniLM back to float32 and runs results/run_device_sweep.sh.
# With OUT set (a folder), the log goes to $OUT/sweep.log and the records to $OUT/records.tgz: copy that
# back and untar it into results/records/<machine>/.
set -uo pipefail
COMMIT=$1 BUDGET=${2:-510}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 2
export PYTHONPATH=/tmp/site:$PWD GLUE_DIR=$PWD/.carry/glue_data HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 TQDM_DISABLE=1 BERT_OFA_GIT_COMMIT=$COMMIT
nvidia-smi -L
python3 - <<'PYEOF' || exit 3
import shutil
from safetensors.torch import load_file, save_file
shutil.rmtree("/tmp/minilm", ignore_errors=True)
shutil.copytree(".carry/minilm16", "/tmp/minilm")
weights = load_file("/tmp/minilm/model.safetensors")
save_file({k: (v.float() if v.is_floating_point() else v) for k, v in weights.items()},
          "/tmp/minilm/model.safetensors", metadata={"format": "pt"})
PYEOF
bash results/run_device_sweep.sh /tmp/minilm results/records/h200 "$BUDGET" 60 > "${OUT:-/tmp}/sweep.log" 2>&1
grep -E "^== |INFO bert_ofa.app.pipeline: largest|direct width" "${OUT:-/tmp}/sweep.log" | cut -c1-200
