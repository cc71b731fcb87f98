"""Named training recipes: a handful, named by what they do; each loads into the typed configs.

A recipe's ``settings`` are argument values (fields of ``OFAModelArguments``, ``OFARunArguments``,
``GlueDataArguments``) in plain Python types. ``--recipe NAME`` makes them the command line's defaults
(options given still win); ``bert_ofa.recipe_configs(NAME, teacher)`` gives the same settings as
``(SupernetConfig, RunConfig, DistillConfig)``. The evidence for each is a page under
``results/experiments/``; experiment-only variants live in ``results/experiments/variants.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Recipe:
    """A named set of argument values, with what it is for and where its evidence is."""

    name: str
    does: str
    when: str
    evidence: str
    settings: Mapping[str, Any] = field(default_factory=dict)


# The default: the teacher is already fine-tuned, so no "largest" stage; width for 2 epochs (two
# phases), then depth for 3; sandwich sampling (largest, smallest, random) with half the random
# subnets uniform in width; later stages learn from the largest subnet as trained so far.
_DEFAULT = {
    "n_epochs": [[1, 2], [5]], "learning_rate": 5e-5, "dynamic_batch_size": [3, 4],
    "elastic_order": ["width", "depth"], "uniform_prob": 0.5,
    "lambda_distill": 1.0, "lambda_logit": 1.0, "lambda_label": 1.0, "teacher_refresh": "stage"}

_EXPERIMENTS = "results/experiments/"
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("default", "width stage (2 epochs, 2 phases) then depth (3 epochs); hidden states, logits and labels",
           "any task, first", _EXPERIMENTS + "recipes.md", _DEFAULT),
    Recipe("long", "the default with every phase twice as long", "when the depth-0.5 subnets matter and twice "
           "the training time is affordable", _EXPERIMENTS + "recipes.md", {**_DEFAULT, "n_epochs": [[2, 4], [10]]}),
    Recipe("augment", "the default plus one word-replaced, teacher-only copy of each training row per epoch "
           "(TinyBERT's augmentation)", "small training sets", _EXPERIMENTS + "augmentation.md",
           {**_DEFAULT, "distill_augment": 1}),
    Recipe("paddleslim", "the seed's schedule: largest, width, depth one epoch each; lr 2e-5; hidden states "
           "at 0.1 and logits, no label loss", "to compare with PaddleSlim's OFA", _EXPERIMENTS + "recipes.md", {}),
    Recipe("demo", "the default's width stage alone (widths 0.5 and 0.75, full depth), for `make demo`",
           "a first look in minutes", "README.md#quick-start",
           {**_DEFAULT, "n_epochs": [[1, 2]], "elastic_order": ["width"], "dynamic_batch_size": [3],
            "expand_ratio": [0.5, 0.75], "depth_mult": [1.0]}),
)}
# the names the recorded runs used
ALIASES = {"r4": "default", "r4e2": "long", "r4x": "augment"}
DEFAULT_RECIPE = "default"
# settings of the training data, not of the supernet, schedule or distillation
DATA_KEYS = ("swap_pairs", "max_train_samples", "distill_augment", "augment_word_prob")


def get_recipe(name: str) -> Recipe:
    """Recipe ``name`` (or an alias); ValueError lists the recipes when it is unknown."""
    key = ALIASES.get(name, name)
    if key not in RECIPES:
        raise ValueError(f"--recipe {name!r} is not a recipe; choose from {', '.join(RECIPES)} "
                         f"(aliases {', '.join(f'{a}={b}' for a, b in ALIASES.items())}; default {DEFAULT_RECIPE}; "
                         "docs/recipes.md compares them)")
    return RECIPES[key]


def recipe_settings(name: str) -> dict[str, Any]:
    """The argument values of recipe ``name``, in plain Python types."""
    return dict(get_recipe(name).settings)
