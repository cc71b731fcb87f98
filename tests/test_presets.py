"""results/run_ofa_glue.py's recipe presets: each one builds a valid OFA run; bad recipes fail clearly."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_model

import bert_ofa as bo

SCRIPT = Path(__file__).parent.parent / "results" / "run_ofa_glue.py"
spec = importlib.util.spec_from_file_location("run_ofa_glue", SCRIPT)
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


# --- the library's recipes on the command line (run_glue_ofa.py / bert-ofa train --recipe NAME) ---

from bert_ofa.cli import _parse, _recipe_defaults  # noqa: E402
from bert_ofa.finetune import GlueDataArguments  # noqa: E402
from bert_ofa.pipeline import OFAModelArguments, OFARunArguments, check_schedule  # noqa: E402
from bert_ofa.recipes import DEFAULT_RECIPE, MAIN, RECIPES  # noqa: E402
from bert_ofa.trainer import OFATrainingArguments  # noqa: E402

TYPES = (OFAModelArguments, GlueDataArguments, OFARunArguments, OFATrainingArguments)
BASE_ARGV = ["--task_name", "mrpc", "--model_name_or_path", "m", "--output_dir", "x"]


def cli_args(*extra):
    argv = [*BASE_ARGV, *extra]
    return _parse(TYPES, argv, _recipe_defaults(argv))


def test_script_presets_are_the_library_recipes():
    """results/run_ofa_glue.py measures exactly what --recipe NAME runs."""
    assert run_ofa_glue.PRESETS is bo.recipes.PRESETS
    recipe, distill, _, _ = run_ofa_glue.resolve_recipe("{}")
    assert {**recipe, **{k: v for k, v in distill.items() if v is not None}} == MAIN == RECIPES["main"]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_reaches_the_run_from_the_command_line(name):
    model, data, run, train = cli_args("--recipe", name)
    assert run.recipe == name
    for key, value in RECIPES[name].items():
        holder = next(a for a in (model, data, run) if hasattr(a, key))
        assert getattr(holder, key) == value, key
    teacher = tiny_model("bert", num_labels=2)
    student = bo.Convert(model.space).convert(copy.deepcopy(teacher))
    ofa = bo.OFA(student, run.run_config(), model.distill_config(teacher))
    assert ofa.distill_config.lambda_label == model.lambda_label


def test_default_recipe_and_given_options_win():
    model, _, run, _ = cli_args()
    assert run.recipe == DEFAULT_RECIPE == "r4"
    assert run.n_epochs == "[[1, 2], [5]]" and model.teacher_refresh == "stage" and model.lambda_label == 1.0
    model, _, run, _ = cli_args("--recipe=r4e2", "--n_epochs", "[[1], [3]]", "--lambda_label", "0.5")
    got = (run.recipe, run.n_epochs, run.dynamic_batch_size, model.lambda_label)
    assert got == ("r4e2", "[[1], [3]]", "[3, 4]", 0.5)
    model, _, run, _ = cli_args("--recipe", "paddleslim")  # the argument classes' own defaults
    defaults = OFARunArguments()
    assert (run.n_epochs, run.learning_rate, run.elastic_order) == (defaults.n_epochs, defaults.learning_rate, None)
    assert model.lambda_distill == OFAModelArguments(model_name_or_path="m").lambda_distill


def test_unknown_recipe_names_the_choices():
    with pytest.raises(ValueError, match=r"'r99' is not a recipe; choose from paddleslim, main, r4"):
        cli_args("--recipe", "r99")
    with pytest.raises(ValueError, match="not a recipe"):
        OFARunArguments(recipe="r99")


def test_recipe_that_misses_a_dimension_fails_before_training(tmp_path):
    """r4 opens width then depth; a space with smaller hidden sizes needs a stage for them too."""
    teacher = tiny_model("bert", num_labels=2)
    teacher.save_pretrained(tmp_path / "t")
    model, _, run, _ = cli_args("--recipe", "r4", "--hidden_size", "[16]", "--teacher_model", str(tmp_path / "t"))
    with pytest.raises(ValueError, match=r"never opens the search space's \['hidden'\].*recipe 'r4' sets"):
        check_schedule(model, run)
    model, _, run, _ = cli_args("--recipe", "r4", "--teacher_model", str(tmp_path / "t"))
    check_schedule(model, run)  # fits
    model, _, run, _ = cli_args("--recipe", "r4", "--n_epochs", "[[1], [2], [3]]",
                                "--teacher_model", str(tmp_path / "t"))
    with pytest.raises(ValueError, match="n_epochs has 3 stages but elastic_order"):
        check_schedule(model, run)


@pytest.mark.parametrize("name", ["r4", "r4e2", "r4w", "r4a", "paddleslim"])
def test_recipe_configs_for_the_python_api_match_the_command_line(name):
    teacher = tiny_model("bert", num_labels=2)
    space, run_config, distill_config = bo.recipe_configs(name, teacher)
    model, _, run, _ = cli_args("--recipe", name)
    assert space == model.space and run_config == run.run_config()
    assert distill_config.lambda_distill == model.lambda_distill and distill_config.lambda_label == model.lambda_label
    assert distill_config.teacher_refresh == model.teacher_refresh and distill_config.teacher_model is teacher
    ofa = bo.OFA(bo.Convert(space).convert(copy.deepcopy(teacher)), run_config, distill_config)
    assert ofa.schedule.order == (json.loads(RECIPES[name]["elastic_order"]) if "elastic_order" in RECIPES[name]
                                  else ["largest", "width", "depth"])


def test_recipe_configs_refuses_data_recipes():
    with pytest.raises(ValueError, match=r"recipe 'r4x' sets training-data options \['distill_augment'\]"):
        bo.recipe_configs("r4x", tiny_model("bert", num_labels=2))


def test_demo_arguments_make_a_valid_run_of_the_default_recipe(tmp_path):
    """`make demo`'s options on top of the default recipe: a schedule that fits, three epochs in all."""
    from bert_ofa.cli import DEMO_ARGS

    teacher = tiny_model("bert", num_labels=2)
    teacher.save_pretrained(tmp_path / "t")
    argv = [*DEMO_ARGS, "--model_name_or_path", str(tmp_path / "t")]
    model, data, run, train = _parse(TYPES, argv, _recipe_defaults(argv))
    assert run.recipe == DEFAULT_RECIPE and data.task_name == "mrpc" and data.max_train_samples == 1000
    check_schedule(model, run)
    ofa = bo.OFA(bo.Convert(model.space).convert(copy.deepcopy(teacher)), run.run_config(),
                 model.distill_config(teacher))
    assert ofa.num_epochs == 3 and ofa.schedule.order == ["width", "depth"]


@pytest.mark.parametrize("kd", [False, True])
def test_direct_baseline_adds_the_teachers_logits_only_when_asked(kd, tiny_bert_dir, glue_dir, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    calls = []

    def spy(student, teacher, temperature, regression):
        calls.append(teacher.detach().clone())
        return bo.distill.logit_loss(student, teacher, temperature, regression)

    monkeypatch.setattr(run_ofa_glue, "logit_loss", spy)
    data_args = GlueDataArguments(task_name="mrpc", glue_dir=str(glue_dir), max_seq_length=32)
    results = run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 1.0, 1e-3, 0, 4, kd=kd)
    assert set(results) == set(run_ofa_glue.SHAPES)
    assert all("eval_f1" in r["metrics"] for r in results.values())
    assert len(calls) == (len(run_ofa_glue.SHAPES) if kd else 0)  # one batch per shape on this data
    if kd:  # the full teacher, the same for every shape (same seeded batch), untouched by their training
        teacher = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
        assert calls[0].shape[-1] == teacher.config.num_labels and torch.equal(calls[0], calls[1])


def test_direct_baseline_with_copies_learns_them_from_the_teacher_only(tiny_bert_dir, glue_dir, monkeypatch):
    calls = []

    def spy(student, teacher, temperature, regression):
        calls.append(student.shape[0])
        return bo.distill.logit_loss(student, teacher, temperature, regression)

    monkeypatch.setattr(run_ofa_glue, "logit_loss", spy)
    data_args = GlueDataArguments(task_name="mrpc", glue_dir=str(glue_dir), max_seq_length=32)
    with pytest.raises(ValueError, match="needs kd"):
        run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 1.0, 1e-3, 0, 4, augment=2)
    results = run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 2.0, 1e-3, 0, 4, kd=True, augment=2)
    plain = run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 2.0, 1e-3, 0, 4, kd=True)
    # each epoch: the rows and two copies of each, in one batch here; two epochs per shape
    assert calls[:2 * len(run_ofa_glue.SHAPES)] == [3 * calls[-1]] * (2 * len(run_ofa_glue.SHAPES))
    assert all(r["metrics"]["eval_loss"] != plain[n]["metrics"]["eval_loss"] for n, r in results.items())
