"""The results files of a run: the seed's table and every evaluated subnet, in Markdown."""

from __future__ import annotations

from typing import Any

from glue_tasks import get_task


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
