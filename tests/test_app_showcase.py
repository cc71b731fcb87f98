"""The end of `make demo`: an exported subnet of a finished run, scored and timed against its teacher."""

from __future__ import annotations

import json

import pytest

from bert_ofa.app.cli import run_glue_ofa
from bert_ofa.app.showcase import export_and_compare, showcase_markdown


@pytest.fixture
def finished_run(tiny_bert_dir, glue_dir, tmp_path):
    out = tmp_path / "run"
    run_glue_ofa(["--task_name", "mrpc", "--model_name_or_path", str(tiny_bert_dir), "--teacher_model",
                  str(tiny_bert_dir), "--glue_dir", str(glue_dir), "--output_dir", str(out), "--recipe", "demo",
                  "--train_batch_size", "2", "--importance_samples", "4", "--max_seq_length", "32",
                  "--search_holdout", "0", "--disable_tqdm", "true"])
    return out


def test_exported_subnet_scores_what_the_supernet_scored(finished_run):
    shown = export_and_compare(finished_run, width_mult=0.5, repeats=3)
    summary = json.loads((finished_run / "subnets.json").read_text())
    row = next(r for r in summary["subnets"] if r["name"] == "width 0.5 x depth 1.0")
    assert shown["subnet"] == row["subnet"]
    for key in ("eval_f1", "eval_accuracy"):  # the standalone folder computes what the supernet computed
        assert shown["metrics"][key] == pytest.approx(row["metrics"][key])
    assert shown["metrics"]["eval_loss"] == pytest.approx(row["metrics"]["eval_loss"], rel=1e-5)
    assert shown["params"] < shown["teacher_params"]
    assert shown["teacher_ms"] > 0 and shown["subnet_ms"] > 0
    assert shown["speedup"] == pytest.approx(shown["teacher_ms"] / shown["subnet_ms"])
    assert json.loads((finished_run / "showcase.json").read_text()) == json.loads(json.dumps(shown))
    assert (finished_run / "export-w0.5-d1.0" / "config.json").is_file()


def test_showcase_table_names_score_size_and_speed(finished_run):
    shown = export_and_compare(finished_run, repeats=3)
    text = showcase_markdown(shown, ["f1", "accuracy"])
    rows = [line for line in text.splitlines() if line.startswith("| teacher") or line.startswith("| exported")]
    assert len(rows) == 2 and f"{shown['speedup']:.2f}x faster" in rows[1]
    assert f"{shown['metrics']['eval_f1']:.4f}" in rows[1]
