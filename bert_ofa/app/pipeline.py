"""The whole job behind ``run_glue_ofa.py``: teacher, conversion, reordering, OFA training,
evaluation of representative subnets, and the results files.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from glue_tasks import get_task
from glue_tasks.augment import SwappedPairs
from glue_tasks.augment_words import DistillAugmented, WordNeighbours
from glue_tasks.finetune import FinetuneArguments, finetune
from glue_tasks.prepare import GlueDataArguments, evaluate_loaders, prepare_glue, save_heldout

from ..core.convert import Convert, get_search_space, set_active_subnet
from ..core.counting import count_flops, count_params
from ..core.importance import compute_importance, reorder_by_importance
from ..core.sampling import largest_subnet, representative_subnets
from ..export.supernet_dir import save_supernet
from ..records import atomic_write_text, environment, git_state
from ..training.ofa import OFA
from ..training.schedule import ProgressiveSchedule
from ..training.trainer import OFATrainingArguments, train_ofa
from .args import OFAModelArguments, OFARunArguments
from .recipes import recipe_settings
from .report import one_class, results_markdown

logger = logging.getLogger(__name__)


def is_finetuned_for(path: str, task_name: str) -> bool:
    """A sequence classifier with the task's number of labels (an explicit --teacher_model wins)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    task = get_task(task_name)
    archs = getattr(config, "architectures", None) or []
    return any(a.endswith("ForSequenceClassification") for a in archs) and config.num_labels == task.num_labels


def check_schedule(model_args: OFAModelArguments, run_args: OFARunArguments) -> None:
    """Fail before any fine-tuning when the stage settings do not fit the model's search space."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(model_args.teacher_model or model_args.model_name_or_path)
    with torch.device("meta"):  # the shapes only: no weights are read or allocated
        skeleton = AutoModelForSequenceClassification.from_config(config)
    space = get_search_space(Convert(model_args.space).convert(skeleton))
    try:
        ProgressiveSchedule(run_args.run_config(), space)
    except ValueError as err:
        if not run_args.recipe:
            raise
        stages = {k: recipe_settings(run_args.recipe).get(k) for k in ("elastic_order", "n_epochs", "dynamic_batch_size")}
        raise ValueError(f"{err}. The recipe {run_args.recipe!r} sets {stages}: give --elastic_order, --n_epochs "
                         "and --dynamic_batch_size together, or --recipe paddleslim for the default order "
                         "(largest, width, depth, hidden)") from err


def prepare_teacher(model_args: OFAModelArguments, data_args: GlueDataArguments, output_dir: str) -> str:
    """The teacher's folder: given, the model itself, or fine-tuned now (reused if already there)."""
    if model_args.teacher_model:
        return model_args.teacher_model
    if is_finetuned_for(model_args.model_name_or_path, data_args.task_name):
        return model_args.model_name_or_path
    out = os.path.join(output_dir, "teacher")
    if os.path.isfile(os.path.join(out, "eval_results.json")):
        logger.info("reusing the teacher fine-tuned in %s", out)
        return out
    if not model_args.finetune_teacher:
        raise ValueError(f"{model_args.model_name_or_path} is not fine-tuned for {data_args.task_name}: "
                         "give --teacher_model, or run run_glue_ofa.py, which fine-tunes one")
    finetune(FinetuneArguments(model_name_or_path=model_args.model_name_or_path, output_dir=out,
                               learning_rate=model_args.teacher_learning_rate,
                               num_train_epochs=model_args.teacher_epochs, overwrite_output_dir=True), data_args)
    return out


def augmented(train, teacher, tokenizer, model_args: OFAModelArguments, seed: int):
    """``train``, followed by ``model_args.distill_augment`` word-replaced copies of it (none: as it is)."""
    if not model_args.distill_augment:
        return train
    rows = train.dataset if isinstance(train, SwappedPairs) else train
    neighbours = None if model_args.augment_word_prob == 0 else WordNeighbours.from_model(
        teacher, tokenizer, rows, model_args.augment_neighbours)
    return DistillAugmented(train, neighbours, model_args.distill_augment, model_args.augment_word_prob, seed)


def run_pipeline(model_args: OFAModelArguments, data_args: GlueDataArguments, run_args: OFARunArguments,
                 train_args: OFATrainingArguments) -> dict[str, Any]:
    """Teacher -> supernet -> reorder -> OFA -> dev scores of representative subnets; writes results."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = get_task(data_args.task_name)
    out = Path(train_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    git_state()  # the code this run loaded, read now: a run of hours records it, not a later commit
    check_schedule(model_args, run_args)
    teacher_path = prepare_teacher(model_args, data_args, str(out))
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path).eval()

    prepared = prepare_glue(task, tokenizer, data_args, run_args.seed, holdout=model_args.search_holdout)
    # the held-out rows are the ones the search scores subnets on: never trained on
    train, heldout, collator, dev = prepared.train, prepared.heldout, prepared.collator, prepared.dev
    teacher_metrics = evaluate_loaders(teacher, task, dev)

    student = copy.deepcopy(teacher)
    if model_args.importance_samples:  # a seeded slice of the training data, never dev
        g = torch.Generator().manual_seed(run_args.seed)
        rows = train.dataset if isinstance(train, SwappedPairs) else train  # the same rows with or without swaps
        idx = torch.randperm(len(rows), generator=g)[: model_args.importance_samples].tolist()
        batches = [collator([rows[i] for i in idx[j:j + 32]]) for j in range(0, len(idx), 32)]
        # the teacher too (same function), so that attention maps are distilled head to head
        reorder_by_importance(student, compute_importance(student, batches), teacher=teacher)
    Convert(model_args.space).convert(student)
    distill = model_args.distill_config(teacher)
    ofa = OFA(student, run_args.run_config(), distill)
    state = train_ofa(ofa, augmented(train, teacher, tokenizer, model_args, run_args.seed), collator, train_args)
    save_supernet(student, out / "supernet", tokenizer, supernet_config=model_args.space)
    if heldout:
        save_heldout(out / "supernet", task, heldout, len(train) + len(heldout))

    rows = []
    space = ofa.space
    for name, sub in representative_subnets(space).items():
        set_active_subnet(student, sub)
        metrics = evaluate_loaders(student, task, dev)
        rows.append({"name": name, "subnet": sub.to_dict(), "params": count_params(student, sub),
                     "flops": count_flops(student, sub, data_args.max_seq_length), "metrics": metrics})
        logger.info("%s: %s", name, {k: round(v, 4) for k, v in metrics.items() if k.startswith("eval_")})
        if one_class(metrics):
            logger.warning("subnet %s predicts one class for every dev example (a collapsed subnet)", name)
    set_active_subnet(student, largest_subnet(space))
    summary = {"task": task.hub_name, "teacher": teacher_path, "teacher_metrics": teacher_metrics,
               "teacher_params": sum(p.numel() for p in teacher.parameters()), "subnets": rows,
               "train_examples": len(train), "heldout_examples": len(heldout),
               # a resumed run: its earlier processes' training counts too
               "train_state": state, "runtime_s": time.time() - start + state.get("resumed_train_time_s", 0.0),
               "env": environment(),
               "args": {"model": asdict(model_args) | {"space": asdict(model_args.space)}, "data": asdict(data_args),
                        "run": asdict(run_args), "train": asdict(train_args)}}
    atomic_write_text(out / "subnets.json", json.dumps(summary, indent=2, default=str) + "\n")
    atomic_write_text(out / "results.md", results_markdown(summary))
    return summary


