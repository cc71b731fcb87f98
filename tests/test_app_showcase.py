"""The end of `make demo`: an exported subnet of a finished run, scored and timed against its teacher."""

from __future__ import annotations

import json

import pytest

from bert_ofa.app.cli import run_glue_ofa
from bert_ofa.app.showcase import export_and_compare, showcase_markdown


@pytest.fixture(scope="module")
def finished_run(shared_tiny_bert_dir, shared_glue_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("showcase") / "run"
    run_glue_ofa(["--task_name", "mrpc", "--model_name_or_path", str(shared_tiny_bert_dir), "--teacher_model",
                  str(shared_tiny_bert_dir), "--glue_dir", str(shared_glue_dir), "--output_dir", str(out),
                  "--recipe", "demo", "--train_batch_size", "2", "--importance_samples", "4",
                  "--max_seq_length", "32", "--search_holdout", "0", "--disable_tqdm", "true"])
    return out


@pytest.fixture(scope="module")
def shown(finished_run):
    """The width-0.5 subnet exported, scored and timed (the defaults of export_and_compare but fewer repeats)."""
    return export_and_compare(finished_run, width_mult=0.5, repeats=3)


def _row(finished_run, subnet):
    """The run's own row for ``subnet`` (in the demo's space width 0.5 x depth 1.0 is listed as "smallest":
    a subnet appears once, under its first name)."""
    rows = json.loads((finished_run / "subnets.json").read_text())["subnets"]
    found = [r for r in rows if r["subnet"] == subnet]
    assert len(found) == 1, [r["name"] for r in rows]
    return found[0]


def test_exported_subnet_is_the_runs_subnet(shown, finished_run):
    row = _row(finished_run, shown["subnet"])
    assert row["name"] == "smallest" and shown["subnet"]["heads"] == [2, 2]


def test_exported_subnet_scores_what_the_supernet_scored(shown, finished_run):
    row = _row(finished_run, shown["subnet"])
    for key in ("eval_f1", "eval_accuracy"):  # the standalone folder computes what the supernet computed
        assert shown["metrics"][key] == pytest.approx(row["metrics"][key])
    assert shown["metrics"]["eval_loss"] == pytest.approx(row["metrics"]["eval_loss"], rel=1e-5)


def test_exported_subnet_is_smaller_and_timed(shown):
    assert shown["params"] < shown["teacher_params"]
    assert shown["teacher_ms"] > 0 and shown["subnet_ms"] > 0
    assert shown["speedup"] == pytest.approx(shown["teacher_ms"] / shown["subnet_ms"])


def test_showcase_is_recorded_next_to_the_run(shown, finished_run):
    assert json.loads((finished_run / "showcase.json").read_text()) == json.loads(json.dumps(shown))
    assert (finished_run / "export-w0.5-d1.0" / "config.json").is_file()


def test_showcase_table_names_score_size_and_speed(shown):
    text = showcase_markdown(shown, ["f1", "accuracy"])
    rows = [line for line in text.splitlines() if line.startswith("| teacher") or line.startswith("| exported")]
    assert len(rows) == 2 and f"{shown['speedup']:.2f}x faster" in rows[1]
    assert f"{shown['metrics']['eval_f1']:.4f}" in rows[1]
