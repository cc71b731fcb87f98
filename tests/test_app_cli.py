"""The command line (bert-ofa, run_glue_ofa.py): usage, every subcommand's help, JSON options."""

from __future__ import annotations

import pytest

import bert_ofa as bo
from bert_ofa.app.args import OFAModelArguments, OFARunArguments
from bert_ofa.app.cli import main as bert_ofa_main
from bert_ofa.app.cli import run_glue_ofa


def test_cli_usage_lists_the_subcommands(capsys):
    assert bert_ofa_main(["--help"]) == 0
    assert "finetune,evaluate,train,export,search,latency-table" in capsys.readouterr().out


def test_cli_refuses_an_unknown_subcommand():
    assert bert_ofa_main(["frobnicate"]) == 2


def test_run_arguments_parse_json_into_a_run_config():
    with pytest.raises(ValueError, match="n_epochs must be JSON"):
        OFARunArguments(n_epochs="[[1],").run_config()
    assert bo.RunConfig is OFARunArguments().run_config().__class__


def test_stage_weights_parse_from_json():
    assert OFAModelArguments(model_name_or_path="m", lambda_distill_stages='{"width": 0.1}').stage_weights == {
        "width": 0.1}


@pytest.mark.parametrize("value, match", [("{width: 0.1}", "lambda_distill_stages must be JSON"),
                                          ("[0.1, 1.0]", "lambda_distill_stages must be a JSON object")])
def test_bad_stage_weights_json(value, match):
    with pytest.raises(ValueError, match=match):
        OFAModelArguments(model_name_or_path="m", lambda_distill_stages=value)


@pytest.mark.parametrize("command", ["finetune", "evaluate", "train", "export", "search", "latency-table"])
def test_every_subcommand_prints_its_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse formats every option's help text
        bert_ofa_main([command, "--help"])
    assert exit_info.value.code == 0 and "--" in capsys.readouterr().out


def test_run_glue_ofa_prints_its_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_glue_ofa(["--help"])
    assert exit_info.value.code == 0 and "--search_holdout" in capsys.readouterr().out
