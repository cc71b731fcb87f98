"""The whole job (run_glue_ofa.py / bert-ofa train) on fixture GLUE data and a tiny encoder: one run, read by
each test for one of its outputs; the saved supernet and an exported subnet score what the run scored."""

from __future__ import annotations

import json

import pytest

from bert_ofa.app.cli import main as bert_ofa_main
from bert_ofa.app.cli import run_glue_ofa


@pytest.fixture(scope="module")
def run(shared_tiny_encoder_dir, shared_glue_dir, tmp_path_factory):
    """One run from a bare encoder (so a teacher is fine-tuned first): (output folder, subnets.json, glue dir)."""
    out = tmp_path_factory.mktemp("pipeline") / "run"
    run_glue_ofa(["--task_name", "mrpc", "--model_name_or_path", str(shared_tiny_encoder_dir),
                  "--glue_dir", str(shared_glue_dir),
                  "--output_dir", str(out), "--train_batch_size", "1", "--teacher_epochs", "1",
                  "--recipe", "paddleslim",  # the argument defaults: largest, width, depth stages
                  "--expand_ratio", "[0.5]", "--depth_mult", "[0.5]", "--n_epochs", "[[1], [2], [3]]",
                  "--learning_rate", "[1e-3, 1e-3, 5e-4]", "--importance_samples", "8", "--max_seq_length", "32",
                  "--lambda_distill_stages", '{"depth": 1.0}', "--distill_augment", "1", "--disable_tqdm", "true"])
    return out, json.loads((out / "subnets.json").read_text()), shared_glue_dir


def _rows(summary):
    return {r["name"]: r for r in summary["subnets"]}


def test_a_teacher_is_trained_first_for_a_model_not_fine_tuned(run):
    out, _, _ = run
    assert (out / "teacher" / "eval_results.json").is_file()


def test_each_subnet_is_scored_once(run):
    _, summary, _ = run
    names = [r["name"] for r in summary["subnets"]]
    # each subnet once: in this space width 0.5 x depth 0.5 is the smallest, so no grid row repeats it
    assert names == ["largest", "smallest", "width 1.0 x depth 0.5", "width 0.5 x depth 1.0"]


def test_the_summary_records_the_schedule_and_the_arguments(run):
    _, summary, _ = run
    assert summary["train_state"]["epoch"] == 3
    assert summary["args"]["run"]["recipe"] == "paddleslim" and summary["args"]["model"]["lambda_distill"] == 0.1


def test_distill_augment_doubles_each_epoch(run):
    _, summary, _ = run
    # --distill_augment 1: each epoch shows every training row and one word-replaced copy of it
    # (batch size 1, so the count tells the doubled epoch apart even with this data's one training row)
    assert summary["train_state"]["global_step"] == 3 * 2 * summary["train_examples"]


def test_rows_kept_out_of_training_are_saved_with_the_supernet(run):
    out, summary, _ = run
    heldout = json.loads((out / "supernet" / "heldout.json").read_text())  # kept out of training for the search
    n_train = summary["train_examples"] + summary["heldout_examples"]
    assert heldout["task"] == "mrpc" and heldout["n_train"] == n_train and len(heldout["indices"]) == 1 == n_train - 1


def test_subnet_sizes_are_below_the_teachers(run):
    _, summary, _ = run
    rows = _rows(summary)
    assert rows["smallest"]["params"] < rows["largest"]["params"] == summary["teacher_params"]
    assert rows["smallest"]["flops"] < rows["largest"]["flops"]


def test_results_table_names_the_task_and_the_subnets(run):
    out, _, _ = run
    table = (out / "results.md").read_text()
    assert "| MRPC | f1/accuracy |" in table and "width 0.5 x depth 1.0" in table


def test_phase_boundary_checkpoints_are_kept(run):
    out, _, _ = run
    assert sorted(p.name for p in out.glob("checkpoint-*"))


def _evaluate(model, glue_dir, output_file, *extra):
    bert_ofa_main(["evaluate", "--model", str(model), "--task_name", "mrpc", "--glue_dir", str(glue_dir),
                   "--max_seq_length", "32", *extra, "--output_file", str(output_file)])
    return json.loads(output_file.read_text())


def test_saved_supernet_scores_as_during_the_run(run, tmp_path):
    out, summary, glue_dir = run
    # the saved supernet scores the same as during the run, via the CLI
    got = _evaluate(out / "supernet", glue_dir, tmp_path / "m.json", "--width_mult", "0.5", "--depth_mult", "0.5")
    want = _rows(summary)["smallest"]["metrics"]  # width 0.5 x depth 0.5
    assert got["eval_f1"] == pytest.approx(want["eval_f1"]) and got["eval_loss"] == pytest.approx(want["eval_loss"], rel=1e-5)


def test_exported_subnet_scores_as_during_the_run(run, tmp_path):
    out, summary, glue_dir = run
    # export that subnet and score the standalone model: same loss
    bert_ofa_main(["export", "--supernet", str(out / "supernet"), "--output_dir", str(tmp_path / "exported"),
                   "--width_mult", "0.5", "--depth_mult", "0.5"])
    exported = _evaluate(tmp_path / "exported", glue_dir, tmp_path / "m.json")
    assert exported["eval_loss"] == pytest.approx(_rows(summary)["smallest"]["metrics"]["eval_loss"], rel=1e-5)


def test_train_without_teacher_needs_a_finetuned_model(tiny_encoder_dir, glue_dir, tmp_path):
    with pytest.raises(ValueError, match="not fine-tuned for mrpc: give --teacher_model"):
        bert_ofa_main(["train", "--task_name", "mrpc", "--model_name_or_path", str(tiny_encoder_dir),
                       "--glue_dir", str(glue_dir), "--output_dir", str(tmp_path / "x")])
