"""Run by tests/test_glue_finetune.py under torchrun: fine-tune a tiny BERT on 2 CPU processes."""

import json
import sys

import torch.distributed as dist

from glue_tasks.finetune import FinetuneArguments, finetune

from glue_tasks.prepare import GlueDataArguments

model_dir, out, glue_dir = sys.argv[1:4]
results = finetune(FinetuneArguments(model_dir, out, learning_rate=1e-3, num_train_epochs=2,
                                     per_device_train_batch_size=1, per_device_eval_batch_size=1, logging_steps=1),
                   GlueDataArguments("mrpc", glue_dir))
rank = dist.get_rank() if dist.is_initialized() else 0
with open(f"{out}/rank{rank}.json", "w") as f:
    json.dump({"world": dist.get_world_size() if dist.is_initialized() else 1, **results}, f)
