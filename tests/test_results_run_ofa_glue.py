"""results/run_ofa_glue.py: experiment-only variants build valid runs through the library's loader, bad
recipes fail clearly, and the direct baseline trains with the teacher fine-tune's own loop."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_model

import bert_ofa as bo
import glue_tasks.finetune
from bert_ofa.training.distill import logit_loss
from glue_tasks.prepare import GlueDataArguments

SCRIPT = Path(__file__).parent.parent / "results" / "run_ofa_glue.py"
spec = importlib.util.spec_from_file_location("run_ofa_glue", SCRIPT)
run_ofa_glue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_ofa_glue)


@pytest.mark.parametrize("name", sorted(run_ofa_glue.VARIANTS))
def test_every_variant_builds_an_ofa_run(name):
    """Each variant's settings reach the run (not only the record), and the record lists every one."""
    model_args, data_args, run_args, settings = run_ofa_glue.build_args(name, "m", "stsb", 128, 43)
    assert settings == run_ofa_glue.VARIANTS[name]
    for key, value in settings.items():
        holder = next(a for a in (model_args, data_args, run_args) if hasattr(a, key))
        got = getattr(holder, key)
        got = json.loads(got) if isinstance(got, str) and got[:1] in "[{" else got
        assert got == value or float(got) == value, key
    assert data_args.task_name == "stsb" and run_args.seed == 43 and run_args.recipe is None
    teacher = tiny_model("bert", num_labels=1)
    student = bo.Convert(model_args.space).convert(copy.deepcopy(teacher))
    ofa = bo.OFA(student, run_args.run_config(), model_args.distill_config(teacher))
    assert ofa.num_epochs == settings["n_epochs"][-1][-1]
    assert ofa.distill_config.lambda_distill == settings["lambda_distill"]


def test_library_recipes_and_their_recorded_names_agree():
    """r4, r4e2 and r4x (the records' tags) are the library's default, long and augment recipes."""
    for tag, name in bo.app.recipes.ALIASES.items():
        assert run_ofa_glue.VARIANTS[tag] == bo.app.recipes.recipe_settings(name)


def test_bad_recipes_name_the_problem():
    with pytest.raises(ValueError, match="neither JSON .* nor a variant"):
        run_ofa_glue.resolve_recipe("r99")
    with pytest.raises(ValueError, match=r"keys \['lambda_distil'\] unknown"):
        run_ofa_glue.resolve_recipe('{"lambda_distil": 1.0}')
    settings = run_ofa_glue.resolve_recipe('{"lambda_distill": 2.0}')
    assert settings == {**run_ofa_glue.MAIN, "lambda_distill": 2.0}


def _spy(monkeypatch, record):
    def spy(student, teacher, temperature, regression):
        record(student, teacher)
        return logit_loss(student, teacher, temperature, regression)

    monkeypatch.setattr(glue_tasks.finetune, "logit_loss", spy)


@pytest.mark.parametrize("kd", [False, True])
def test_direct_baseline_adds_the_teachers_logits_only_when_asked(kd, tiny_bert_dir, glue_dir, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    calls = []
    _spy(monkeypatch, lambda s, t: calls.append(t.detach().clone()))
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
    _spy(monkeypatch, lambda s, t: calls.append(s.shape[0]))
    data_args = GlueDataArguments(task_name="mrpc", glue_dir=str(glue_dir), max_seq_length=32)
    with pytest.raises(ValueError, match="needs kd"):
        run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 1.0, 1e-3, 0, 4, augment=2)
    results = run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 2.0, 1e-3, 0, 4, kd=True, augment=2)
    plain = run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 2.0, 1e-3, 0, 4, kd=True)
    # each epoch: the rows and two copies of each, in one batch here; two epochs per shape
    assert calls[:2 * len(run_ofa_glue.SHAPES)] == [3 * calls[-1]] * (2 * len(run_ofa_glue.SHAPES))
    assert all(r["metrics"]["eval_loss"] != plain[n]["metrics"]["eval_loss"] for n, r in results.items())


def test_direct_baseline_uses_the_shared_optimizer_rule(tiny_bert_dir, glue_dir, monkeypatch):
    """No weight decay (the teacher's and OFA's rule), none on biases and norms: the record says so."""
    seen = []
    real = glue_tasks.finetune.make_optimizer

    def spy(module, lr, weight_decay=0.0):
        seen.append(weight_decay)
        return real(module, lr, weight_decay)

    monkeypatch.setattr(glue_tasks.finetune, "make_optimizer", spy)
    data_args = GlueDataArguments(task_name="mrpc", glue_dir=str(glue_dir), max_seq_length=32)
    run_ofa_glue.direct_baseline(str(tiny_bert_dir), data_args, 1.0, 1e-3, 0, 4)
    assert seen == [run_ofa_glue.DIRECT["weight_decay"]] * len(run_ofa_glue.SHAPES) == [0.0, 0.0]
