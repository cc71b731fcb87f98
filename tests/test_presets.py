"""results/run_ofa_glue.py's recipe presets: each one builds a valid OFA run; bad recipes fail clearly."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from tiny_models import tiny_model

import bert_ofa as bo
from bert_ofa.finetune import GlueDataArguments
from bert_ofa.pipeline import OFAModelArguments, OFARunArguments

spec = importlib.util.spec_from_file_location("run_ofa_glue", Path(__file__).parent.parent / "results" / "run_ofa_glue.py")
run_ofa_glue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_ofa_glue)


@pytest.mark.parametrize("name", sorted(run_ofa_glue.PRESETS))
def test_every_preset_builds_an_ofa_run(name):
    recipe, distill, data, space = run_ofa_glue.resolve_recipe(name)
    preset = run_ofa_glue.PRESETS[name]
    settings = {**recipe, **distill, **data, **{**run_ofa_glue.SPACE, **space}}
    assert all(settings[k] == v for k, v in preset.items())  # every key of the preset lands somewhere
    teacher = tiny_model("bert", num_labels=1)
    model_args = OFAModelArguments(model_name_or_path="m", teacher_model="m",
                                   **{k: v for k, v in distill.items() if v is not None},
                                   **{**run_ofa_glue.SPACE, **space})
    GlueDataArguments(task_name="stsb", **data)
    run = OFARunArguments(**recipe, seed=42).run_config()
    student = bo.Convert(model_args.space).convert(copy.deepcopy(teacher))
    ofa = bo.OFA(student, run, model_args.distill_config(teacher))
    assert ofa.num_epochs == json.loads(recipe["n_epochs"])[-1][-1]


def test_bad_recipes_name_the_problem():
    with pytest.raises(ValueError, match="neither JSON .* nor a preset"):
        run_ofa_glue.resolve_recipe("r99")
    with pytest.raises(ValueError, match=r"keys \['lambda_distil'\] unknown"):
        run_ofa_glue.resolve_recipe('{"lambda_distil": 1.0}')
    recipe, distill, _, _ = run_ofa_glue.resolve_recipe('{"lambda_distill": 2.0}')
    assert distill["lambda_distill"] == 2.0 and recipe == run_ofa_glue.RECIPE
