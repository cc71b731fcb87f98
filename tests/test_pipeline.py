"""The whole job (run_glue_ofa.py / bert-ofa) on fixture GLUE data and a tiny model."""

from __future__ import annotations

import json

import pytest
import torch

import bert_ofa as bo
from bert_ofa.app.cli import main as bert_ofa_main
from bert_ofa.app.cli import run_glue_ofa


@pytest.fixture
def tiny_encoder_dir(tiny_bert, tmp_path):
    """A bare (not fine-tuned) tiny BERT encoder and its tokenizer."""
    from transformers import BertModel

    model, tokenizer = tiny_bert()
    torch.manual_seed(0)
    encoder = BertModel(model.config)
    path = tmp_path / "encoder"
    encoder.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_run_glue_ofa_end_to_end(tiny_encoder_dir, glue_dir, tmp_path):
    out = tmp_path / "run"
    run_glue_ofa(["--task_name", "mrpc", "--model_name_or_path", str(tiny_encoder_dir), "--glue_dir", str(glue_dir),
                  "--output_dir", str(out), "--train_batch_size", "1", "--teacher_epochs", "1",
                  "--recipe", "paddleslim",  # the argument defaults: largest, width, depth stages
                  "--expand_ratio", "[0.5]", "--depth_mult", "[0.5]", "--n_epochs", "[[1], [2], [3]]",
                  "--learning_rate", "[1e-3, 1e-3, 5e-4]", "--importance_samples", "8", "--max_seq_length", "32",
                  "--lambda_distill_stages", '{"depth": 1.0}', "--distill_augment", "1", "--disable_tqdm", "true"])
    assert (out / "teacher" / "eval_results.json").is_file()  # not fine-tuned: a teacher was trained first
    summary = json.loads((out / "subnets.json").read_text())
    names = [r["name"] for r in summary["subnets"]]
    # each subnet once: in this space width 0.5 x depth 0.5 is the smallest, so no grid row repeats it
    assert names == ["largest", "smallest", "width 1.0 x depth 0.5", "width 0.5 x depth 1.0"]
    assert summary["train_state"]["epoch"] == 3
    assert summary["args"]["run"]["recipe"] == "paddleslim" and summary["args"]["model"]["lambda_distill"] == 0.1
    # --distill_augment 1: each epoch shows every training row and one word-replaced copy of it
    # (batch size 1, so the count tells the doubled epoch apart even with this data's one training row)
    assert summary["train_state"]["global_step"] == 3 * 2 * summary["train_examples"]
    heldout = json.loads((out / "supernet" / "heldout.json").read_text())  # kept out of training for the search
    n_train = summary["train_examples"] + summary["heldout_examples"]
    assert heldout["task"] == "mrpc" and heldout["n_train"] == n_train and len(heldout["indices"]) == 1 == n_train - 1
    rows = {r["name"]: r for r in summary["subnets"]}
    assert rows["smallest"]["params"] < rows["largest"]["params"] == summary["teacher_params"]
    assert rows["smallest"]["flops"] < rows["largest"]["flops"]
    table = (out / "results.md").read_text()
    assert "| MRPC | f1/accuracy |" in table and "width 0.5 x depth 1.0" in table
    assert sorted(p.name for p in out.glob("checkpoint-*"))  # phase-boundary checkpoints

    # the saved supernet scores the same as during the run, via the CLI
    metrics_file = tmp_path / "m.json"
    bert_ofa_main(["evaluate", "--model", str(out / "supernet"), "--task_name", "mrpc", "--glue_dir", str(glue_dir),
                   "--max_seq_length", "32", "--width_mult", "0.5", "--depth_mult", "0.5",
                   "--output_file", str(metrics_file)])
    got = json.loads(metrics_file.read_text())
    want = rows["smallest"]["metrics"]  # width 0.5 x depth 0.5
    assert got["eval_f1"] == pytest.approx(want["eval_f1"]) and got["eval_loss"] == pytest.approx(want["eval_loss"], rel=1e-5)

    # export that subnet and score the standalone model: same loss
    bert_ofa_main(["export", "--supernet", str(out / "supernet"), "--output_dir", str(tmp_path / "exported"),
                   "--width_mult", "0.5", "--depth_mult", "0.5"])
    bert_ofa_main(["evaluate", "--model", str(tmp_path / "exported"), "--task_name", "mrpc", "--glue_dir",
                   str(glue_dir), "--max_seq_length", "32", "--output_file", str(metrics_file)])
    exported = json.loads(metrics_file.read_text())
    assert exported["eval_loss"] == pytest.approx(want["eval_loss"], rel=1e-5)


def test_train_without_teacher_needs_a_finetuned_model(tiny_encoder_dir, glue_dir, tmp_path):
    with pytest.raises(ValueError, match="not fine-tuned for mrpc: give --teacher_model"):
        bert_ofa_main(["train", "--task_name", "mrpc", "--model_name_or_path", str(tiny_encoder_dir),
                       "--glue_dir", str(glue_dir), "--output_dir", str(tmp_path / "x")])


def test_cli_usage_and_bad_json(capsys):
    assert bert_ofa_main(["--help"]) == 0
    assert "finetune,evaluate,train,export,search,latency-table" in capsys.readouterr().out
    assert bert_ofa_main(["frobnicate"]) == 2
    from bert_ofa.app.args import OFARunArguments

    with pytest.raises(ValueError, match="n_epochs must be JSON"):
        OFARunArguments(n_epochs="[[1],").run_config()
    assert bo.RunConfig is OFARunArguments().run_config().__class__
    from bert_ofa.app.args import OFAModelArguments

    assert OFAModelArguments(model_name_or_path="m", lambda_distill_stages='{"width": 0.1}').stage_weights == {
        "width": 0.1}
    with pytest.raises(ValueError, match="lambda_distill_stages must be JSON"):
        OFAModelArguments(model_name_or_path="m", lambda_distill_stages="{width: 0.1}")
    with pytest.raises(ValueError, match="lambda_distill_stages must be a JSON object"):
        OFAModelArguments(model_name_or_path="m", lambda_distill_stages="[0.1, 1.0]")


@pytest.mark.parametrize("command", ["finetune", "evaluate", "train", "export", "search", "latency-table"])
def test_every_subcommand_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse formats every option's help text
        bert_ofa_main([command, "--help"])
    assert exit_info.value.code == 0 and "--" in capsys.readouterr().out


def test_run_glue_ofa_prints_its_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_glue_ofa(["--help"])
    assert exit_info.value.code == 0 and "--search_holdout" in capsys.readouterr().out


def test_results_markdown_marks_one_class_subnets():
    from bert_ofa.app.report import results_markdown

    row = lambda name, share: {"name": name, "params": 1e6, "flops": 1e9,  # noqa: E731
                               "metrics": {"eval_f1": 0.81, "eval_accuracy": 0.68, "eval_top_class_share": share}}
    summary = {"task": "mrpc", "teacher_metrics": {"eval_f1": 0.85, "eval_accuracy": 0.77}, "teacher_params": 2e6,
               "subnets": [row("largest", 0.7), row("smallest", 1.0)]}
    table = results_markdown(summary)
    assert "| smallest (one class) |" in table and "| largest |" in table
    assert "1 subnet(s) predict one class" in table
    summary["subnets"] = [row("largest", 0.7)]
    assert "one class" not in results_markdown(summary)
