"""The library's recipes: a handful, loaded by one loader into the typed configs, on the CLI and in Python."""

import copy
import json

import pytest
from tiny_models import tiny_model

import bert_ofa as bo
from bert_ofa.app.args import OFAModelArguments, OFARunArguments, recipe_arguments
from bert_ofa.app.cli import DEMO_ARGS, _parse, _recipe_defaults
from bert_ofa.app.pipeline import check_schedule
from bert_ofa.app.recipes import ALIASES, DEFAULT_RECIPE, RECIPES, recipe_settings
from bert_ofa.training.trainer import OFATrainingArguments
from glue_tasks.prepare import GlueDataArguments

TYPES = (OFAModelArguments, GlueDataArguments, OFARunArguments, OFATrainingArguments)
BASE_ARGV = ["--task_name", "mrpc", "--model_name_or_path", "m", "--output_dir", "x"]


def cli_args(*extra):
    argv = [*BASE_ARGV, *extra]
    return _parse(TYPES, argv, _recipe_defaults(argv))


def _parsed(value):
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def test_a_handful_of_recipes_named_by_what_they_do():
    assert set(RECIPES) == {"default", "long", "augment", "paddleslim", "demo"}
    assert bo.RECIPES is RECIPES and DEFAULT_RECIPE == "default"
    assert ALIASES == {"r4": "default", "r4e2": "long", "r4x": "augment"}
    for r in RECIPES.values():
        assert r.does and r.when and r.evidence


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_reaches_the_run_from_the_command_line(name):
    model, data, run, _ = cli_args("--recipe", name)
    assert run.recipe == name
    for key, value in recipe_settings(name).items():
        holder = next(a for a in (model, data, run) if hasattr(a, key))
        got = getattr(holder, key)
        assert _parsed(got) == value or float(got) == value, key
    teacher = tiny_model("bert", num_labels=2)
    student = bo.Convert(model.space).convert(copy.deepcopy(teacher))
    ofa = bo.OFA(student, run.run_config(), model.distill_config(teacher))
    assert ofa.distill_config.lambda_label == model.lambda_label


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_load_the_recipe_and_record_its_name(alias):
    model, _, run, _ = cli_args("--recipe", alias)
    same_model, _, same_run, _ = cli_args("--recipe", ALIASES[alias])
    assert run.recipe == ALIASES[alias] and run.run_config() == same_run.run_config()
    assert model.distill_config(None) == same_model.distill_config(None)


def test_default_recipe_and_given_options_win():
    model, _, run, _ = cli_args()
    assert run.recipe == "default"
    assert json.loads(run.n_epochs) == [[1, 2], [5]] and model.teacher_refresh == "stage" and model.lambda_label == 1.0
    model, _, run, _ = cli_args("--recipe=long", "--n_epochs", "[[1], [3]]", "--lambda_label", "0.5")
    got = (run.recipe, run.n_epochs, json.loads(run.dynamic_batch_size), model.lambda_label)
    assert got == ("long", "[[1], [3]]", [3, 4], 0.5)
    model, _, run, _ = cli_args("--recipe", "paddleslim")  # the argument classes' own defaults
    defaults = OFARunArguments()
    assert (run.n_epochs, run.learning_rate, run.elastic_order) == (defaults.n_epochs, defaults.learning_rate, None)
    assert model.lambda_distill == OFAModelArguments(model_name_or_path="m").lambda_distill


def test_unknown_recipe_names_the_choices():
    with pytest.raises(ValueError, match=r"'r99' is not a recipe; choose from default, long, augment"):
        cli_args("--recipe", "r99")
    with pytest.raises(ValueError, match="not a recipe"):
        OFARunArguments(recipe="r4h3")  # an experiment-only variant is not a library recipe


def test_recipe_arguments_refuse_unknown_settings():
    with pytest.raises(ValueError, match=r"unknown settings \['lambda_distil'\]"):
        recipe_arguments("default", model_name_or_path="m", lambda_distil=1.0)


def test_recipe_that_misses_a_dimension_fails_before_training(tmp_path):
    """The default opens width then depth; a space with smaller hidden sizes needs a stage for them too."""
    teacher = tiny_model("bert", num_labels=2)
    teacher.save_pretrained(tmp_path / "t")
    model, _, run, _ = cli_args("--hidden_size", "[16]", "--teacher_model", str(tmp_path / "t"))
    with pytest.raises(ValueError, match=r"never opens the search space's \['hidden'\].*recipe 'default' sets"):
        check_schedule(model, run)
    model, _, run, _ = cli_args("--teacher_model", str(tmp_path / "t"))
    check_schedule(model, run)  # fits
    model, _, run, _ = cli_args("--n_epochs", "[[1], [2], [3]]", "--teacher_model", str(tmp_path / "t"))
    with pytest.raises(ValueError, match="n_epochs has 3 stages but elastic_order"):
        check_schedule(model, run)


@pytest.mark.parametrize("name", ["default", "long", "paddleslim", "demo", "r4"])
def test_recipe_configs_for_the_python_api_match_the_command_line(name):
    teacher = tiny_model("bert", num_labels=2)
    space, run_config, distill_config = bo.recipe_configs(name, teacher)
    model, _, run, _ = cli_args("--recipe", name)
    assert space == model.space and run_config == run.run_config()
    assert distill_config.lambda_distill == model.lambda_distill and distill_config.lambda_label == model.lambda_label
    assert distill_config.teacher_refresh == model.teacher_refresh and distill_config.teacher_model is teacher
    ofa = bo.OFA(bo.Convert(space).convert(copy.deepcopy(teacher)), run_config, distill_config)
    assert ofa.schedule.order == recipe_settings(name).get("elastic_order", ["largest", "width", "depth"])


def test_recipe_configs_refuses_data_recipes():
    with pytest.raises(ValueError, match=r"recipe 'augment' sets training-data options \['distill_augment'\]"):
        bo.recipe_configs("augment", tiny_model("bert", num_labels=2))


def test_demo_arguments_make_a_valid_run(tmp_path):
    """`make demo`'s options: the demo recipe, a schedule that fits the model."""
    teacher = tiny_model("bert", num_labels=2)
    teacher.save_pretrained(tmp_path / "t")
    argv = [*DEMO_ARGS, "--model_name_or_path", str(tmp_path / "t")]
    model, data, run, _ = _parse(TYPES, argv, _recipe_defaults(argv))
    assert run.recipe == "demo"
    check_schedule(model, run)
    ofa = bo.OFA(bo.Convert(model.space).convert(copy.deepcopy(teacher)), run.run_config(),
                 model.distill_config(teacher))
    assert ofa.schedule.order == recipe_settings("demo")["elastic_order"]
