"""OFA on a GLUE task with the MiniLM-L6 teacher, plus the no-progressive-shrinking baseline.

    python results/run_ofa_glue.py --task mrpc [--teacher outputs/teachers/mrpc] [--output_root outputs/ofa]

1. run_glue_ofa's pipeline (reorder by importance on training data, progressive shrinking,
   distillation) -> results/records/ofa_<task>.json (every representative subnet's dev score);
2. the same shapes cut from the teacher by importance and fine-tuned directly (label loss,
   no progressive shrinking) -> results/records/direct_<task>[_<tag>].json. Run it for a tag only
   when the tag changes what the baseline sees (--recipe with swap_pairs, another --teacher);
   make_tables pairs each run with the baseline of its tag, else the untagged one.
results/make_tables.py renders both.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys

import torch
from accelerate.utils import set_seed
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import bert_ofa as bo
from bert_ofa.app.args import OFAModelArguments, OFARunArguments, cli_values, recipe_arguments
from bert_ofa.app.pipeline import augmented, run_pipeline
from bert_ofa.records import write_record
from bert_ofa.training.trainer import OFATrainingArguments
from glue_tasks import get_task
from glue_tasks.augment import SwappedPairs
from glue_tasks.finetune import FinetuneArguments, train_classifier
from glue_tasks.prepare import GlueDataArguments, prepare_glue

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "experiments"))
from variants import MAIN, VARIANTS  # noqa: E402  (experiment-only recipes live with the experiments)

# The settings a record lists: those that differ from main's (the first recipe; the records' baseline).
# Training data: swap_pairs (MRPC, STS-B; glue_tasks.augment) and a cap on the training rows apply to the
# direct baseline too (run it with the same --tag), so both see the same inputs.
DATA = dict(swap_pairs=0.0, max_train_samples=None)
# The search space: DynaBERT's widths 0.25-1.0 and depths 0.5-1.0 (PaddleSlim's BERT demo stops at 0.5).
SPACE = dict(expand_ratio=[0.25, 0.5, 0.75], depth_mult=[0.5, 0.75])
SHAPES = {"width 0.5 x depth 1.0": (0.5, 1.0), "width 1.0 x depth 0.5": (1.0, 0.5)}
# The direct baseline's optimisation: the teacher fine-tune's loop and rule (glue_tasks.finetune), recorded whole.
DIRECT = dict(epochs=3.0, learning_rate=5e-5, batch=32, weight_decay=0.0, warmup_ratio=0.0, max_grad_norm=1.0,
              optimizer="AdamW (no decay on biases and norms)", lr_schedule="linear to 0")


def direct_baseline(teacher_path: str, data_args: GlueDataArguments, epochs: float, lr: float, seed: int,
                    importance_samples: int, search_holdout: int = 0, kd: bool = False, augment: int = 0) -> dict:
    """Cut each shape from the importance-reordered teacher and fine-tune it with the teacher fine-tune's own
    loop (``glue_tasks.finetune.train_classifier``: the label loss, the shared optimizer rule) on the rows OFA
    trains on (``prepare_glue``, the search's held-out rows left out). ``kd``: plus the teacher's logits, as
    OFA's logit loss at temperature 1 (can distillation lift one shape at all?). ``augment``: with ``kd``,
    that many word-replaced copies of each row per epoch, learnt from the teacher only (OFA's
    ``distill_augment``: do inputs without labels give the teacher something to teach?)."""
    if augment and not kd:
        raise ValueError("augmented rows have no label: the direct baseline needs kd to learn from them")
    task = get_task(data_args.task_name)
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    prepared = prepare_glue(task, tokenizer, data_args, seed, holdout=search_holdout)
    rows = prepared.train.dataset if isinstance(prepared.train, SwappedPairs) else prepared.train
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(rows), generator=g)[:importance_samples].tolist()
    collator = prepared.collator
    bo.reorder_by_importance(teacher, bo.compute_importance(
        teacher, [collator([rows[i] for i in idx[j:j + 32]]) for j in range(0, len(idx), 32)]))
    full = copy.deepcopy(teacher).eval() if kd else None
    train_rows = None
    if augment:  # the pipeline's own augmentation, with its default word settings
        train_rows = augmented(prepared.train, teacher, tokenizer, OFAModelArguments(
            model_name_or_path=teacher_path, distill_augment=augment), seed)
    bo.Convert(bo.supernet(expand_ratio=[0.5], depth_mult=[0.5])).convert(teacher)
    results = {}
    for name, (w, d) in SHAPES.items():
        sub = bo.subnet_from_mults(teacher, w, d)
        model = bo.extract_subnet(teacher, sub)
        args = FinetuneArguments(model_name_or_path=teacher_path, output_dir="-", learning_rate=lr,
                                 num_train_epochs=epochs, per_device_train_batch_size=DIRECT["batch"], seed=seed,
                                 weight_decay=DIRECT["weight_decay"], warmup_ratio=DIRECT["warmup_ratio"],
                                 max_grad_norm=DIRECT["max_grad_norm"])
        set_seed(seed)  # data order and dropout, as the teacher fine-tune seeds them
        _, out, _ = train_classifier(model, prepared, args, teacher=full, train_rows=train_rows)
        metrics = {k: v for k, v in out.items() if k.startswith("eval_")}
        results[name] = {"subnet": sub.to_dict(), "params": bo.count_params(teacher, sub), "metrics": metrics,
                         "train_time_s": out["train_runtime_s"]}
        logging.info("direct %s: %s", name, metrics)
    return results


def resolve_recipe(name_or_json: str) -> dict:
    """A variant name, or JSON overriding main's settings -> the full settings; ValueError names bad input."""
    if name_or_json in VARIANTS:
        return dict(VARIANTS[name_or_json])
    try:
        override = json.loads(name_or_json)
    except json.JSONDecodeError as err:
        raise ValueError(f"--recipe {name_or_json!r} is neither JSON ({err}) nor a variant ({', '.join(VARIANTS)})")
    known = set(OFAModelArguments.__dataclass_fields__) | set(OFARunArguments.__dataclass_fields__) | set(DATA)
    unknown = set(override) - known
    if unknown or not isinstance(override, dict):
        raise ValueError(f"--recipe keys {sorted(unknown)} unknown; choose from {sorted(known)}")
    return {**MAIN, **override}


def build_args(recipe_arg: str, teacher: str, task: str, max_seq_length: int, seed: int
               ) -> tuple[OFAModelArguments, GlueDataArguments, OFARunArguments, dict]:
    """The pipeline's arguments for ``--recipe`` (a variant or JSON) through the library's recipe loader, and
    the settings its record lists (the variant's own; the search space only where it is not ``SPACE``)."""
    listed = resolve_recipe(recipe_arg)
    settings = {**SPACE, **listed}
    data = {k: settings.pop(k) for k in DATA if k in settings}
    # a variant, not a library recipe: no recipe name; the record lists its settings instead
    model_args, run_args, _ = recipe_arguments(None, model_name_or_path=teacher, teacher_model=teacher, seed=seed,
                                               **cli_values(settings))
    data_args = GlueDataArguments(task_name=task, max_seq_length=max_seq_length, **data)
    return model_args, data_args, run_args, listed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--teacher", default=None, help="default: outputs/teachers/<task> (run_glue_baselines.py)")
    parser.add_argument("--output_root", default="outputs/ofa")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--skip_direct", action="store_true")
    parser.add_argument("--skip_ofa", action="store_true", help="only the direct baseline")
    parser.add_argument("--recipe", default="main", help=f"a variant ({', '.join(VARIANTS)}; results/experiments/"
                        "variants.py), or JSON overriding main's settings")
    parser.add_argument("--tag", default=None, help="an ablation: writes records/ablation_<task>_<tag>.json and "
                        "trains in <output_root>/<task>-<tag>, leaving the main record alone")
    parser.add_argument("--seed", type=int, default=42, help="OFA and direct runs; records of another seed than 42 "
                        "get a _s<seed> suffix")
    parser.add_argument("--resume", action="store_true", help="continue the OFA run from its latest checkpoint")
    parser.add_argument("--direct_loss", choices=["label", "label+kd"], default="label",
                        help="the direct baseline's loss; label+kd adds the teacher's logits (run it with a --tag: "
                        "runs without their own baseline are judged against label-only ones)")
    parser.add_argument("--direct_augment", type=int, default=0, help="with --direct_loss label+kd: word-replaced "
                        "copies of each training row per epoch, learnt from the teacher only (as distill_augment)")
    parser.add_argument("--records", default="results/records")
    args = parser.parse_args()
    if args.direct_augment and args.direct_loss != "label+kd":
        parser.error("--direct_augment needs --direct_loss label+kd: the copies have no label, only the teacher's")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    task = get_task(args.task).hub_name
    teacher = args.teacher or os.path.join("outputs", "teachers", task)
    suffix = f"_s{args.seed}" if args.seed != 42 else ""
    try:
        model_args, data_args, run_args, settings = build_args(args.recipe, teacher, task, args.max_seq_length,
                                                               args.seed)
    except ValueError as err:
        parser.error(str(err))
    if not args.skip_ofa:
        run_dir = os.path.join(args.output_root, task + (f"-{args.tag}" if args.tag else "") + suffix)
        train_args = OFATrainingArguments(output_dir=run_dir, logging_steps=10,
                                          save_steps=50, resume_from_checkpoint="latest" if args.resume else None,
                                          overwrite_output_dir=True)
        summary = run_pipeline(model_args, data_args, run_args, train_args)
        name, kind = (f"ablation_{task}_{args.tag}", "glue_ofa_ablation") if args.tag else (f"ofa_{task}", "glue_ofa")
        write_record(os.path.join(args.records, f"{name}{suffix}.json"), kind, summary, task=task,
                     recipe=settings, tag=args.tag, seed=args.seed)
    if not args.skip_direct:
        epochs = DIRECT["epochs"]
        direct = direct_baseline(teacher, data_args, epochs, DIRECT["learning_rate"], args.seed,
                                 model_args.importance_samples,
                                 model_args.search_holdout, kd=args.direct_loss == "label+kd",
                                 augment=args.direct_augment)
        tag = f"_{args.tag}" if args.tag else ""  # a tagged baseline: another teacher or other data
        write_record(os.path.join(args.records, f"direct_{task}{tag}{suffix}.json"), "glue_direct", direct,
                     task=task, seed=args.seed, tag=args.tag, teacher=teacher,
                     settings={**DIRECT, "loss": args.direct_loss,
                               **({"distill_augment": args.direct_augment} if args.direct_augment else {}),
                               "search_holdout": model_args.search_holdout,
                               **{k: settings[k] for k in DATA if k in settings}})


if __name__ == "__main__":
    main()
