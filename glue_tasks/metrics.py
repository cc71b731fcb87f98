"""GLUE metrics, computed locally with scikit-learn / scipy (no ``evaluate.load``).

Names match HF ``evaluate``'s ``glue`` metric: ``matthews_correlation``, ``accuracy``,
``f1``, ``pearson``, ``spearmanr``; tasks with several metrics also get
``combined_score`` (their mean), as in HF's ``run_glue.py``.

Degenerate inputs give 0.0 rather than nan or an exception: MCC of constant predictions
is 0.0 (scikit-learn's convention), F1 with no positive prediction is 0.0
(``zero_division=0``), and Pearson/Spearman with a constant input (undefined
correlation) are reported as 0.0, i.e. "no linear/rank relation".
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score, matthews_corrcoef

from .tasks import TaskInfo, get_task


def _correlation(fn, x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0  # undefined for a constant input; reported as "no correlation"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(fn(x, y)[0])
    return 0.0 if np.isnan(value) else value


def predictions_to_labels(task: str | TaskInfo, predictions) -> np.ndarray:
    """Logits -> class ids (argmax) or scores (STS-B); 1-D ids/scores pass through."""
    task = get_task(task)
    preds = np.asarray(predictions)
    if task.is_regression:
        if preds.ndim == 2 and preds.shape[1] == 1:
            preds = preds[:, 0]
        if preds.ndim != 1:
            raise ValueError(f"{task.name} predictions must be scores (n,) or (n, 1), got {preds.shape}")
        return preds.astype(np.float64)
    if preds.ndim == 2:
        if preds.shape[1] != task.num_labels:
            raise ValueError(f"{task.name} logits need {task.num_labels} columns, got {preds.shape}")
        return preds.argmax(axis=-1)
    if preds.ndim != 1:
        raise ValueError(f"{task.name} predictions must be logits (n, k) or ids (n,), got {preds.shape}")
    if preds.size and not (np.issubdtype(preds.dtype, np.integer) or np.all(preds == np.round(preds))):
        raise ValueError(f"{task.name} 1-D predictions must be class ids, got non-integers")
    ids = preds.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= task.num_labels):
        raise ValueError(f"{task.name} class ids must be in 0..{task.num_labels - 1}")
    return ids


def compute_metrics(task: str | TaskInfo, predictions, references) -> dict[str, float]:
    """GLUE metrics of one task. ``predictions``: logits, class ids, or scores (STS-B)."""
    task = get_task(task)
    preds = predictions_to_labels(task, predictions)
    refs = np.asarray(references)
    if refs.ndim == 2 and refs.shape[1] == 1:
        refs = refs[:, 0]
    if refs.ndim != 1 or len(refs) != len(preds):
        raise ValueError(f"{len(preds)} predictions but references of shape {refs.shape}")
    if len(refs) == 0:
        raise ValueError("no examples to score")
    if not task.is_regression and refs.min() < 0:
        raise ValueError("references contain label -1 (an unlabeled test split cannot be scored)")
    out: dict[str, float] = {}
    for name in task.metric_names:
        if name == "accuracy":
            out[name] = float(np.mean(preds == refs))
        elif name == "f1":
            out[name] = float(f1_score(refs, preds, zero_division=0))
        elif name == "matthews_correlation":
            out[name] = float(matthews_corrcoef(refs, preds))
        elif name == "pearson":
            out[name] = _correlation(stats.pearsonr, preds, refs.astype(np.float64))
        elif name == "spearmanr":
            out[name] = _correlation(stats.spearmanr, preds, refs.astype(np.float64))
        else:  # pragma: no cover - the task table only names the metrics above
            raise KeyError(name)
    if len(out) > 1:
        out["combined_score"] = float(np.mean(list(out.values())))
    return out
