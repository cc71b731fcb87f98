"""Run by tests/test_training_ofa.py under torchrun: train a tiny supernet on 2 CPU processes."""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch.distributed as dist  # noqa: E402
from tiny_models import collate, convert, tiny_model  # noqa: E402

from bert_ofa import OFA, DistillConfig, OFATrainingArguments, RunConfig, train_ofa  # noqa: E402

out = Path(sys.argv[1])
teacher = tiny_model("bert")
student = convert(tiny_model("bert"), expand_ratio=[0.5], depth=[2])
ofa = OFA(student, RunConfig(train_batch_size=4, n_epochs=[[1], [2], [3]], init_learning_rate=1e-3),
          DistillConfig(teacher_model=teacher, lambda_label=1.0))
g = torch.Generator().manual_seed(0)
data = [{"input_ids": torch.randint(3, 99, (10,), generator=g), "attention_mask": torch.ones(10, dtype=torch.long),
         "labels": torch.tensor(i % 3)} for i in range(40)]
sampled = []
orig = ofa.sample_subnets


def record(step=None):
    subs = orig(step)
    sampled.append([s.to_dict() for s in subs])
    return subs


ofa.sample_subnets = record
state = train_ofa(ofa, data, collate, OFATrainingArguments(output_dir=str(out / "run"), disable_tqdm=True))
rank = dist.get_rank() if dist.is_initialized() else 0
world = dist.get_world_size() if dist.is_initialized() else 1
torch.save({k: v.detach().clone() for k, v in ofa.model.state_dict().items()}, out / f"weights_{rank}.pt")
(out / f"subnets_{rank}.json").write_text(json.dumps({"world": world, "sampled": sampled, "steps": state["global_step"],
                                                                "checkpoints": sorted(p.name for p in (out / "run").glob("checkpoint-*"))}))
