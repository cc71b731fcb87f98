"""The end of ``make demo``: export one subnet of a finished run and show what it buys.

Exports the width-``width_mult`` subnet of ``<run>/supernet`` as a standalone folder, reloads it with
the Auto classes, scores it on dev and times it against the teacher (interleaved, batch 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.sampling import subnet_from_mults
from ..export.hf import export_subnet
from ..export.supernet_dir import load_supernet
from ..records import atomic_write_text
from ..search.latency import compare_latency


def export_and_compare(run_dir: str | Path, width_mult: float = 0.5, depth_mult: float = 1.0,
                       batch_size: int = 1, repeats: int = 30) -> dict[str, Any]:
    """Export a subnet of a run, score it on dev and time it against the run's teacher.

    Args:
        run_dir: a ``run_glue_ofa.py`` output folder (``subnets.json``, ``supernet/``).
        width_mult, depth_mult: the subnet, by DynaBERT's multipliers.
        batch_size, repeats: the latency measurement (sequence length: the run's).
    Returns:
        The folder, dev metrics of teacher and subnet, both latencies and the speedup; also
        written to ``<run_dir>/showcase.json``.
    """
    from transformers import AutoModelForSequenceClassification

    from glue_tasks.prepare import evaluate_model  # here: GLUE imports datasets

    run = Path(run_dir)
    summary = json.loads((run / "subnets.json").read_text(encoding="utf-8"))
    data = summary["args"]["data"]
    supernet = load_supernet(run / "supernet")
    subnet = subnet_from_mults(supernet, width_mult, depth_mult)
    folder = export_subnet(supernet, subnet, run / f"export-w{width_mult}-d{depth_mult}", overwrite=True)
    exported = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    teacher = AutoModelForSequenceClassification.from_pretrained(summary["teacher"]).eval()
    metrics = evaluate_model(folder, data["task_name"], data["glue_dir"], data["max_seq_length"],
                             max_eval_samples=data["max_eval_samples"])
    teacher_ms, subnet_ms = compare_latency(teacher, exported, batch_size=batch_size,
                                            seq_len=data["max_seq_length"], repeats=repeats)
    result = {"folder": str(folder), "subnet": subnet.to_dict(), "task": summary["task"],
              "teacher_metrics": summary["teacher_metrics"], "metrics": metrics,
              "params": sum(p.numel() for p in exported.parameters()), "teacher_params": summary["teacher_params"],
              "batch_size": batch_size, "seq_len": data["max_seq_length"],
              "teacher_ms": teacher_ms, "subnet_ms": subnet_ms, "speedup": teacher_ms / subnet_ms}
    atomic_write_text(run / "showcase.json", json.dumps(result, indent=2) + "\n")
    return result


def showcase_markdown(result: dict[str, Any], metric_names: list[str]) -> str:
    """Teacher and exported subnet side by side: score, parameters, latency."""
    def score(metrics: dict) -> str:
        return " / ".join(f"{metrics.get(f'eval_{m}', float('nan')):.4f}" for m in metric_names)

    return "\n".join([
        f"Exported {result['folder']} and timed it against the teacher on this machine "
        f"(batch {result['batch_size']}, {result['seq_len']} tokens, interleaved runs):", "",
        f"| model | {' / '.join(metric_names)} | params | latency |", "|---|---|---|---|",
        f"| teacher | {score(result['teacher_metrics'])} | {result['teacher_params'] / 1e6:.1f}M | "
        f"{result['teacher_ms']:.1f} ms |",
        f"| exported subnet | {score(result['metrics'])} | {result['params'] / 1e6:.1f}M | "
        f"{result['subnet_ms']:.1f} ms ({result['speedup']:.2f}x faster) |", ""])
