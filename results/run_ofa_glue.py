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
import time

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

import bert_ofa as bo
from bert_ofa.accuracy import split_heldout
from bert_ofa.distill import logit_loss
from bert_ofa.finetune import (MODEL_INPUTS, GlueDataArguments, cap_samples, evaluate_loaders, make_collator,
                               task_loss, training_rows)
from bert_ofa.ofa import masked_label_loss
from bert_ofa.pipeline import OFAModelArguments, OFARunArguments, augmented, run_pipeline
from bert_ofa.recipes import MAIN, PRESETS
from bert_ofa.records import write_record
from bert_ofa.trainer import OFATrainingArguments
from glue_tasks import get_task, load_glue, tokenize_glue
from glue_tasks.augment import SwappedPairs

# The "main" recipe and its named variants live in the library (bert_ofa/recipes.py), so that
# run_glue_ofa.py --recipe NAME runs what these records measured; RECIPE/DISTILL split main's settings.
RECIPE = {k: MAIN[k] for k in ("n_epochs", "learning_rate", "dynamic_batch_size", "elastic_order", "uniform_prob")}
DISTILL = dict({k: MAIN[k] for k in ("lambda_distill", "lambda_logit", "lambda_label", "teacher_refresh")},
               # None: the library's default, left out of the record
               lambda_distill_stages=None, lambda_attention=None, attention_loss=None,
               # word-replaced copies of the training rows, distilled only (OFA; the direct baseline: --direct_augment)
               distill_augment=None, augment_word_prob=None, temperature=None)
assert set(RECIPE) | {k for k in DISTILL if DISTILL[k] is not None} == set(MAIN)
# Training data: the chance a pair is shown in the other sentence order (MRPC, STS-B; glue_tasks.augment),
# and a cap on the training rows (the first ones; for a task too big for the machine, e.g. SST-2 on 2 cores).
# It applies to the direct baseline too (run it with the same --tag), so both see the same inputs;
# a record lists it only when on.
DATA = dict(swap_pairs=0.0, max_train_samples=None)
# The search space (OFAModelArguments): DynaBERT's widths 0.25-1.0 and depths 0.5-1.0 by default. A record
# lists these only when they differ. PaddleSlim's BERT demo (the seed's table) stops at width 0.5.
SPACE = dict(expand_ratio="[0.25, 0.5, 0.75]", depth_mult="[0.5, 0.75]")
SHAPES = {"width 0.5 x depth 1.0": (0.5, 1.0), "width 1.0 x depth 0.5": (1.0, 0.5)}


def direct_baseline(teacher_path: str, data_args: GlueDataArguments, epochs: float, lr: float, seed: int,
                    importance_samples: int, search_holdout: int = 0, kd: bool = False, augment: int = 0) -> dict:
    """Cut each shape from the importance-reordered teacher and fine-tune it with the label loss (``kd``: plus
    the teacher's logits, as OFA's logit loss at temperature 1: can distillation lift one shape at all?
    ``augment``: with ``kd``, that many word-replaced copies of each row per epoch, learnt from the teacher
    only, as OFA's ``distill_augment``: do inputs without labels give the teacher something to teach?)."""
    if augment and not kd:
        raise ValueError("augmented rows have no label: the direct baseline needs kd to learn from them")
    task = get_task(data_args.task_name)
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    raw = cap_samples(load_glue(task, data_args.glue_dir, splits=[task.train_split, *task.eval_splits]), task,
                      data_args)
    data = tokenize_glue(raw, tokenizer, task, data_args.max_seq_length)
    keep = [c for c in data["train"].column_names if c in MODEL_INPUTS or c == "label"]
    held = set(split_heldout(len(data["train"]), search_holdout, seed)) if search_holdout else set()
    # the rows OFA trains on, with its sentence-order swaps when swap_pairs is on
    train = training_rows(raw["train"], data["train"], tokenizer, data_args, seed, keep, held)
    rows = train.dataset if isinstance(train, SwappedPairs) else train
    collator = make_collator(tokenizer)
    dev = {s: DataLoader(data[s], batch_size=64, collate_fn=collator) for s in task.eval_splits}
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(rows), generator=g)[:importance_samples].tolist()
    bo.reorder_by_importance(teacher, bo.compute_importance(
        teacher, [collator([rows[i] for i in idx[j:j + 32]]) for j in range(0, len(idx), 32)]))
    full = copy.deepcopy(teacher).to("cuda" if torch.cuda.is_available() else "cpu").eval() if kd else None
    if augment:  # the pipeline's own augmentation, with its default word settings
        train = augmented(train, teacher, tokenizer, OFAModelArguments(model_name_or_path=teacher_path,
                                                                       distill_augment=augment), seed)
    bo.Convert(bo.supernet(expand_ratio=[0.5], depth_mult=[0.5])).convert(teacher)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = {}
    for name, (w, d) in SHAPES.items():
        sub = bo.subnet_from_mults(teacher, w, d)
        model = bo.extract_subnet(teacher, sub).to(device).train()
        torch.manual_seed(seed)
        loader = DataLoader(train, batch_size=32, shuffle=True, collate_fn=collator)
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        total = int(epochs * len(loader))
        sched = get_linear_schedule_with_warmup(opt, 0, total)
        start = time.time()
        for epoch in range(int(epochs)):
            if hasattr(train, "set_epoch"):  # SwappedPairs, DistillAugmented: new swaps and copies each epoch
                train.set_epoch(epoch)
            for batch in loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
                logits = model(**inputs).logits
                # the copies have no label; without them, the recorded baselines' own loss
                loss = (masked_label_loss(logits, batch["labels"], task.is_regression) if augment
                        else task_loss(task, logits, batch["labels"]))
                if full is not None:
                    with torch.no_grad():
                        target = full(**inputs).logits
                    loss = loss + logit_loss(logits, target, 1.0, task.is_regression)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step(), sched.step(), opt.zero_grad()
        results[name] = {"subnet": sub.to_dict(), "params": bo.count_params(teacher, sub),
                         "metrics": evaluate_loaders(model, task, dev), "train_time_s": time.time() - start}
        logging.info("direct %s: %s", name, results[name]["metrics"])
    return results


def resolve_recipe(name_or_json: str) -> tuple[dict, dict, dict, dict]:
    """A preset name or JSON overrides -> (recipe, distill, data, space) settings; ValueError names bad input."""
    if name_or_json in PRESETS:
        override = PRESETS[name_or_json]
    else:
        try:
            override = json.loads(name_or_json)
        except json.JSONDecodeError as err:
            raise ValueError(f"--recipe {name_or_json!r} is neither JSON ({err}) nor a preset ({', '.join(PRESETS)})")
    unknown = set(override) - set(RECIPE) - set(DISTILL) - set(DATA) - set(SPACE)
    if unknown:
        raise ValueError(f"--recipe keys {sorted(unknown)} unknown; choose from "
                         f"{sorted(RECIPE) + sorted(DISTILL) + sorted(DATA) + sorted(SPACE)}")
    recipe = {k: override.get(k, v) for k, v in RECIPE.items()}
    distill = {k: override.get(k, v) for k, v in DISTILL.items()}
    data = {k: override[k] for k in DATA if k in override}  # only what differs from the default
    space = {k: override[k] for k in SPACE if k in override and override[k] != SPACE[k]}
    return recipe, distill, data, space


def build_args(recipe_arg: str, teacher: str, task: str, max_seq_length: int, seed: int
               ) -> tuple[OFAModelArguments, GlueDataArguments, OFARunArguments, dict]:
    """The pipeline's arguments for ``--recipe`` (a preset or JSON), and the settings its record lists."""
    recipe, distill, data, space = resolve_recipe(recipe_arg)
    distill = {k: v for k, v in distill.items() if v is not None}
    model_args = OFAModelArguments(model_name_or_path=teacher, teacher_model=teacher, **distill,
                                   **{**SPACE, **space})
    data_args = GlueDataArguments(task_name=task, max_seq_length=max_seq_length, **data)
    return model_args, data_args, OFARunArguments(**recipe, seed=seed), {**recipe, **distill, **data, **space}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--teacher", default=None, help="default: outputs/teachers/<task> (run_glue_baselines.py)")
    parser.add_argument("--output_root", default="outputs/ofa")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--skip_direct", action="store_true")
    parser.add_argument("--skip_ofa", action="store_true", help="only the direct baseline")
    parser.add_argument("--recipe", default="{}", help=f"JSON overriding RECIPE/DISTILL keys, or a preset name "
                        f"({', '.join(PRESETS)})")
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
        epochs = 3.0
        direct = direct_baseline(teacher, data_args, epochs, 5e-5, args.seed, model_args.importance_samples,
                                 model_args.search_holdout, kd=args.direct_loss == "label+kd",
                                 augment=args.direct_augment)
        tag = f"_{args.tag}" if args.tag else ""  # a tagged baseline: another teacher or other data
        write_record(os.path.join(args.records, f"direct_{task}{tag}{suffix}.json"), "glue_direct", direct,
                     task=task, seed=args.seed, tag=args.tag, teacher=teacher,
                     settings={"epochs": epochs, "learning_rate": 5e-5, "batch": 32, "loss": args.direct_loss,
                               **({"distill_augment": args.direct_augment} if args.direct_augment else {}),
                               "search_holdout": model_args.search_holdout,
                               **{k: settings[k] for k in DATA if k in settings}})


if __name__ == "__main__":
    main()
