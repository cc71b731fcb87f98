"""Experiment-only recipe variants: the settings behind the recorded ablations (results/records/ablation_*).

Each is a dict of argument values on top of ``main`` (the first recipe measured) or of the library's
``default`` recipe (recorded as r4). ``results/run_ofa_glue.py --recipe NAME`` runs them; each page
under results/experiments/ says what question one answered. The library's own recipes are
``bert_ofa.RECIPES``; r4 (default), r4e2 (long) and r4x (augment) are aliases of those.
"""

from __future__ import annotations

from typing import Any

from bert_ofa.app.recipes import recipe_settings

# "main": width for 2 epochs (two phases), then depth for 3, no "largest" stage (the teacher is already
# fine-tuned); hidden states at 1.0, logits and labels; the given teacher throughout.
MAIN: dict[str, Any] = {
    "n_epochs": [[1, 2], [3, 4, 5]], "learning_rate": 5e-5, "dynamic_batch_size": 3,
    "elastic_order": ["width", "depth"], "uniform_prob": 0.0,
    "lambda_distill": 1.0, "lambda_logit": 1.0, "lambda_label": 1.0, "teacher_refresh": "none"}

R4 = recipe_settings("default")
VARIANTS: dict[str, dict[str, Any]] = {
    "main": MAIN,
    "r4": R4,
    "r4s": {**R4, "swap_pairs": 0.5},  # pairs shown in either sentence order
    "r4w": {**R4, "expand_ratio": [0.5, 0.75]},  # without the width-0.25 subnets
    "r4h": {**R4, "lambda_distill": 0.1},  # PaddleSlim's hidden-state weight
    "r4h3": {**R4, "lambda_distill": 3.0},  # more weight on hidden states
    "r4a": {**R4, "lambda_attention": 1.0, "attention_loss": "kl"},  # + attention maps (MiniLM's KL)
    "r4d": {**R4, "lambda_distill_stages": {"width": 0.1}},  # DynaBERT's per-stage weights
    "r4x": recipe_settings("augment"),
    "r4x0": {**recipe_settings("augment"), "augment_word_prob": 0.0},  # r4x's control: copies unchanged
    "r4e2": recipe_settings("long"),
    "r4x4": {**R4, "distill_augment": 4},  # four copies per row
    "r4t": {**R4, "temperature": 2.0},  # logits at temperature 2
    "r4l": {**R4, "learning_rate": [2e-5, 2e-5, 5e-5]},  # the width stage at 2e-5
}
