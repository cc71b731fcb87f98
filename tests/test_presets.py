"""results/run_ofa_glue.py's recipe presets: each one builds a valid OFA run; bad recipes fail clearly."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from tiny_models import tiny_model

import bert_ofa as bo

spec = importlib.util.spec_from_file_location("run_ofa_glue", Path(__file__).parent.parent / "results" / "run_ofa_glue.py")
run_ofa_glue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_ofa_glue)


@pytest.mark.parametrize("name", sorted(run_ofa_glue.PRESETS))
def test_every_preset_builds_an_ofa_run(name):
    """The arguments main() builds from each preset make a valid OFA run, and its record lists every key."""
    model_args, data_args, run_args, settings = run_ofa_glue.build_args(name, "m", "stsb", 128, 43)
    assert all(settings[k] == v for k, v in run_ofa_glue.PRESETS[name].items())
    for key, value in run_ofa_glue.PRESETS[name].items():  # each setting reaches the run, not only the record
        holder = next(a for a in (model_args, data_args, run_args) if hasattr(a, key))
        assert getattr(holder, key) == value, key
    assert data_args.task_name == "stsb" and run_args.seed == 43
    teacher = tiny_model("bert", num_labels=1)
    student = bo.Convert(model_args.space).convert(copy.deepcopy(teacher))
    ofa = bo.OFA(student, run_args.run_config(), model_args.distill_config(teacher))
    assert ofa.num_epochs == json.loads(settings["n_epochs"])[-1][-1]
    assert ofa.distill_config.lambda_distill == settings["lambda_distill"]


def test_bad_recipes_name_the_problem():
    with pytest.raises(ValueError, match="neither JSON .* nor a preset"):
        run_ofa_glue.resolve_recipe("r99")
    with pytest.raises(ValueError, match=r"keys \['lambda_distil'\] unknown"):
        run_ofa_glue.resolve_recipe('{"lambda_distil": 1.0}')
    recipe, distill, _, _ = run_ofa_glue.resolve_recipe('{"lambda_distill": 2.0}')
    assert distill["lambda_distill"] == 2.0 and recipe == run_ofa_glue.RECIPE
