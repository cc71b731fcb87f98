"""Named training recipes: settings of ``run_glue_ofa.py`` / ``bert-ofa train``, measured on GLUE.

A recipe is a dict of argument names (fields of ``OFAModelArguments``, ``OFARunArguments``,
``GlueDataArguments``) to values as the command line takes them. ``--recipe NAME`` makes them the
defaults; options given on the command line still win. results/glue_ofa.md measures each one
(``results/run_ofa_glue.py --recipe NAME`` runs them with the same table).
"""

from __future__ import annotations

from typing import Any

# results/run_ofa_glue.py's first recipe ("main"): the teacher is already fine-tuned, so no "largest"
# stage: width for 2 epochs (two phases), then depth for 3 (DynaBERT gives each stage 3 epochs and weights
# hidden states 1.0); the label loss too, since MiniLM-L6 is no stronger than a directly fine-tuned
# half-width model.
MAIN: dict[str, Any] = {
    "n_epochs": "[[1, 2], [3, 4, 5]]", "learning_rate": "5e-5", "dynamic_batch_size": "3",
    "elastic_order": '["width", "depth"]', "uniform_prob": 0.0,
    "lambda_distill": 1.0, "lambda_logit": 1.0, "lambda_label": 1.0, "teacher_refresh": "none"}

# Overrides of MAIN. r4 was the best of the STS-B ablations at MAIN's cost; the others are its variants
# (results/glue_ofa.md has every one's scores against the direct baseline).
PRESETS: dict[str, dict[str, Any]] = {"r4": {"uniform_prob": 0.5, "teacher_refresh": "stage",
                                             "n_epochs": "[[1, 2], [5]]", "dynamic_batch_size": "[3, 4]"}}
PRESETS["r4s"] = {**PRESETS["r4"], "swap_pairs": 0.5}  # r4 on pairs shown in either order
# r4 without the width-0.25 subnets: on MRPC the smallest (trained every step) predicts the majority class
PRESETS["r4w"] = {**PRESETS["r4"], "expand_ratio": "[0.5, 0.75]"}
# r4 with the hidden-state weight of PaddleSlim's BERT demo and DynaBERT's width stage (0.1, not 1.0)
PRESETS["r4h"] = {**PRESETS["r4"], "lambda_distill": 0.1}
PRESETS["r4h3"] = {**PRESETS["r4"], "lambda_distill": 3.0}  # the other way: more weight on hidden states
# + attention maps by KL per query row (MiniLM's transfer); eager attention
PRESETS["r4a"] = {**PRESETS["r4"], "lambda_attention": 1.0, "attention_loss": "kl"}
# r4 with DynaBERT's per-stage hidden-state weights: 0.1 in the width stage, 1.0 (lambda_distill) in depth
PRESETS["r4d"] = {**PRESETS["r4"], "lambda_distill_stages": '{"width": 0.1}'}
# r4 on the training rows plus one word-replaced copy of each per epoch, distilled only (TinyBERT's augmentation)
PRESETS["r4x"] = {**PRESETS["r4"], "distill_augment": 1}
# r4x's control: the same doubled steps and teacher-only rows, but the copies unchanged (no new inputs)
PRESETS["r4x0"] = {**PRESETS["r4x"], "augment_word_prob": 0.0}
# r4 with each phase twice as long, every pass with its label: the best measured on STS-B (depth 0.5 +3.8
# points over the direct baseline), at twice r4's cost. r4x0 and r4x scored the same: the steps count
PRESETS["r4e2"] = {**PRESETS["r4"], "n_epochs": "[[2, 4], [10]]"}
# r4 with four word-replaced copies of each row per epoch (nearer TinyBERT's 20x augmentation): on STS-B one copy
# bought nothing over as many plain steps (r4x0, r4e2); does MRPC's depth 0.5 need many new inputs? (5x the steps)
PRESETS["r4x4"] = {**PRESETS["r4"], "distill_augment": 4}
# r4 with logits distilled at temperature 2: the MRPC c6 teacher is near certain on most of its own training
# rows, so at T=1 its soft targets say little more than the labels
PRESETS["r4t"] = {**PRESETS["r4"], "temperature": 2.0}
# r4 with the width stage at PaddleSlim's learning rate (2e-5; depth keeps 5e-5): on MRPC, twice the steps (r4e2)
# cost the wide subnets 1 to 1.5 points, so do the width phases move the converged teacher's weights too far?
PRESETS["r4l"] = {**PRESETS["r4"], "learning_rate": "[2e-5, 2e-5, 5e-5]"}

# "paddleslim": the argument classes' own defaults (PaddleSlim's BERT demo losses and learning rate: hidden
# states at 0.1, logits, no label loss, lr 2e-5; one epoch each for largest, width, depth), for comparison.
RECIPES: dict[str, dict[str, Any]] = {"paddleslim": {}, "main": MAIN,
                                      **{name: {**MAIN, **o} for name, o in PRESETS.items()}}
# r4, at main's cost: on STS-B better than main on all five measured shapes (depth 0.5 +4.5 points); on MRPC
# depth 0.5 +2.2 and width 0.5 x depth 0.5 +0.5; largest -1.0, width 0.5 -0.2, smallest -0.4 (in the noise
# of 408 dev rows). The shapes that need the help most gain; results/glue_ofa.md.
DEFAULT_RECIPE = "r4"


def recipe_settings(name: str) -> dict[str, Any]:
    """The argument values of recipe ``name``; ValueError lists the recipes when it is unknown."""
    if name not in RECIPES:
        raise ValueError(f"--recipe {name!r} is not a recipe; choose from {', '.join(RECIPES)} "
                         f"(default {DEFAULT_RECIPE}; results/glue_ofa.md compares them)")
    return dict(RECIPES[name])


# settings of the training data, not of the supernet, schedule or distillation
DATA_KEYS = ("swap_pairs", "max_train_samples", "distill_augment", "augment_word_prob")


def recipe_configs(name: str, teacher: Any) -> tuple[Any, Any, Any]:
    """Recipe ``name`` for the Python API: ``(supernet config, RunConfig, DistillConfig)`` with ``teacher``.

    ``OFA(Convert(space).convert(model), run_config, distill_config)`` then trains as the command line
    does. Recipes that change the training data (``DATA_KEYS``) raise: those live in the data pipeline.
    """
    from .pipeline import OFAModelArguments, OFARunArguments  # here: the pipeline imports this module

    settings = recipe_settings(name)
    data = sorted(k for k in settings if k in DATA_KEYS)
    if data:
        raise ValueError(f"recipe {name!r} sets training-data options {data}: run it with run_glue_ofa.py, or "
                         "build the data yourself (glue_tasks.augment.SwappedPairs, glue_tasks.augment_words."
                         "DistillAugmented) with the recipe it extends")
    run_fields = set(OFARunArguments.__dataclass_fields__)
    model_args = OFAModelArguments(model_name_or_path="-", **{k: v for k, v in settings.items()
                                                              if k not in run_fields})
    run_args = OFARunArguments(recipe=name, **{k: v for k, v in settings.items() if k in run_fields})
    return model_args.space, run_args.run_config(), model_args.distill_config(teacher)
