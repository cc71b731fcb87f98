"""GLUE metrics against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from glue_tasks import compute_metrics

# 2x2 confusion matrix: TP=3, FN=1, FP=1, TN=3.
REFS = [1, 1, 1, 0, 0, 0, 1, 0]
PREDS = [1, 1, 0, 0, 0, 1, 1, 0]
# MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (9 - 1) / sqrt(4^4) = 0.5
# accuracy = 6/8; F1 = 2TP / (2TP + FP + FN) = 6/8


def _logits(ids, k=2):
    out = np.full((len(ids), k), -1.0)
    out[np.arange(len(ids)), ids] = 2.0
    return out


def test_cola_mcc_by_hand():
    assert compute_metrics("cola", PREDS, REFS) == {"matthews_correlation": pytest.approx(0.5)}


def test_mrpc_qqp_f1_accuracy_and_combined():
    for task in ("mrpc", "QQP"):
        m = compute_metrics(task, np.array(PREDS), REFS)
        assert m == pytest.approx({"f1": 0.75, "accuracy": 0.75, "combined_score": 0.75})
    m = compute_metrics("mrpc", [1, 1, 1, 1], [1, 0, 0, 0])  # P=1/4, R=1 -> F1 = 2/5
    assert m == pytest.approx({"f1": 0.4, "accuracy": 0.25, "combined_score": 0.325})


def test_logits_and_ids_agree():
    for task in ("cola", "sst2", "mrpc", "rte", "wnli", "qnli"):
        assert compute_metrics(task, _logits(PREDS), REFS) == compute_metrics(task, PREDS, REFS)
    assert compute_metrics("sst2", _logits(PREDS), REFS) == {"accuracy": 0.75}


def test_mnli_three_classes():
    refs = [0, 1, 2, 2, 1]
    preds = [0, 1, 2, 0, 0]
    assert compute_metrics("mnli", _logits(preds, 3), refs) == {"accuracy": pytest.approx(0.6)}
    assert compute_metrics("ax", refs, refs) == {"matthews_correlation": pytest.approx(1.0)}


def test_degenerate_predictions_give_zero():
    constant = [1] * len(REFS)
    assert compute_metrics("cola", constant, REFS) == {"matthews_correlation": 0.0}
    m = compute_metrics("mrpc", [0] * len(REFS), REFS)  # no positive prediction
    assert m == {"f1": 0.0, "accuracy": 0.5, "combined_score": 0.25}
    m = compute_metrics("stsb", np.full(4, 2.5), [0.0, 1.0, 2.0, 3.0])  # undefined correlation -> 0.0
    assert m == {"pearson": 0.0, "spearmanr": 0.0, "combined_score": 0.0}


def test_stsb_scores_and_squeeze():
    # x = (1, 2, 3), y = (1, 3, 2): cov = 1, var = 2 each -> Pearson 0.5; same ranks -> Spearman 0.5
    m = compute_metrics("stsb", np.array([[1.0], [2.0], [3.0]]), [1.0, 3.0, 2.0])
    assert m == pytest.approx({"pearson": 0.5, "spearmanr": 0.5, "combined_score": 0.5})
    m = compute_metrics("sts-b", [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 9.0])
    assert m["spearmanr"] == pytest.approx(1.0) and 0.99 < m["pearson"] < 1.0


@pytest.mark.parametrize("task, preds, refs, match", [
    ("sst2", [0, 1, 1], [0, 1], "3 predictions"),
    ("sst2", _logits([0, 1], 3), [0, 1], "2 columns"),
    ("sst2", [0.5, 1.0], [0, 1], "class ids"),
    ("sst2", [0, 2], [0, 1], "0..1"),
    ("sst2", [0, 1], [-1, -1], "unlabeled"),
    ("stsb", np.zeros((2, 2)), [0.0, 1.0], r"\(n, 1\)"),
    ("cola", [], [], "no examples"),
])
def test_bad_inputs_raise(task, preds, refs, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(task, preds, refs)
