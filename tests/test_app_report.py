"""The run's results.md (bert_ofa.app.report)."""

from __future__ import annotations

from bert_ofa.app.report import results_markdown


def _summary(*rows):
    row = lambda name, share: {"name": name, "params": 1e6, "flops": 1e9,  # noqa: E731
                               "metrics": {"eval_f1": 0.81, "eval_accuracy": 0.68, "eval_top_class_share": share}}
    return {"task": "mrpc", "teacher_metrics": {"eval_f1": 0.85, "eval_accuracy": 0.77}, "teacher_params": 2e6,
            "subnets": [row(name, share) for name, share in rows]}


def test_results_markdown_marks_one_class_subnets():
    table = results_markdown(_summary(("largest", 0.7), ("smallest", 1.0)))
    assert "| smallest (one class) |" in table and "| largest |" in table
    assert "1 subnet(s) predict one class" in table


def test_results_markdown_without_one_class_subnets_says_nothing_of_them():
    assert "one class" not in results_markdown(_summary(("largest", 0.7)))
