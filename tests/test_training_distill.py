"""Distillation in OFA: losses (logits, hidden states, attention maps), per-stage weights, custom losses,
the teacher's cache and its refresh at stage boundaries, the trained projection."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny_models import HALF_WIDTH, collate, convert, make_ofa, tiny_batch, tiny_model, toy_data

import bert_ofa as bo
from bert_ofa import OFA, DistillConfig, OFATrainingArguments, RunConfig, train_ofa

SMALL = bo.SubnetConfig([0, 2], [2, 2], [18, 18], 32)


@pytest.mark.parametrize("attention, attention_loss", [(0.0, "mse"), (1.0, "mse"), (1.0, "kl")])
def test_distillation_is_zero_when_student_is_teacher(attention, attention_loss):
    ofa = make_ofa(lambda_attention=attention, attention_loss=attention_loss).eval()
    student, teacher = ofa(**tiny_batch())
    assert teacher is not None and len(student.hidden_states) == len(teacher.hidden_states)
    assert ofa.calc_distill_loss().item() == 0.0
    assert set(ofa.last_losses) == ({"logit", "hidden", "attention"} if attention else {"logit", "hidden"})
    ofa.set_active_subnet(bo.SubnetConfig([0, 2], [2, 1], [18, 9], 16))
    ofa(**tiny_batch())
    assert ofa.calc_distill_loss().item() > 0
    assert all(v > 0 for v in ofa.last_losses.values())


def test_attention_kl_matches_kl_div_over_real_queries():
    g = torch.Generator().manual_seed(0)
    student, teacher = (torch.randn(2, 3, 5, 5, generator=g).softmax(-1) for _ in range(2))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    rows = torch.nn.functional.kl_div(student.log(), teacher, reduction="none").sum(-1)  # (B, heads, T)
    want = torch.cat([rows[0].flatten(), rows[1, :, :3].flatten()]).mean()
    assert bo.training.distill.attention_kl(student, teacher, mask).item() == pytest.approx(want.item(), rel=1e-6)
    assert bo.training.distill.attention_kl(student, teacher, None).item() == pytest.approx(rows.mean().item(), rel=1e-6)
    assert bo.training.distill.attention_kl(teacher, teacher, mask).item() == 0.0


def test_unknown_attention_loss_is_refused():
    with pytest.raises(ValueError, match="attention_loss must be one of"):
        DistillConfig(attention_loss="cosine")


REFRESH_RUN = RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]], init_learning_rate=2e-3)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    """A run with teacher_refresh="stage", checked after each phase: (ofa, original teacher, checks)."""
    ofa = make_ofa(REFRESH_RUN, lambda_label=1.0, teacher_refresh="stage")
    original = ofa.teacher
    batch = collate(toy_data(8, seed=1))
    seen = []

    def check(ofa, phase):  # called after each phase, when the next stage's teacher is in place
        ofa.eval()
        ofa.set_active_subnet(ofa.largest_subnet())
        student, teacher = ofa(**batch)
        seen.append((phase, ofa.teacher is original, torch.allclose(student.logits, teacher.logits, atol=1e-5),
                     ofa.calc_distill_loss().item() - ofa.last_losses["label"]))
        ofa.train()

    train_ofa(ofa, toy_data(24), collate,
              OFATrainingArguments(output_dir=str(tmp_path_factory.mktemp("refresh")), disable_tqdm=True),
              on_phase_end=check)
    return ofa, original, seen


def test_teacher_refresh_makes_the_trained_supernet_the_teacher(refreshed):
    _, _, seen = refreshed
    assert [s[:3] for s in seen[:3]] == [(0, False, True), (1, False, True), (2, False, True)]
    assert all(abs(s[3]) < 1e-6 for s in seen[:3])  # distillation loss zero at the largest subnet


def test_refreshed_teacher_is_a_frozen_copy(refreshed):
    ofa, _, seen = refreshed
    assert seen[3][2] is False  # a frozen copy: the supernet trained on after the last swap, the teacher did not
    assert not any(p.requires_grad for p in ofa.teacher.parameters())


def test_refreshed_teacher_is_a_plain_model_never_saved(refreshed):
    ofa, original, _ = refreshed
    assert not any(k.startswith("_teacher") for k in ofa.state_dict())  # never saved with the supernet
    assert not hasattr(ofa.teacher, bo.core.convert.STATE_ATTR) and type(ofa.teacher) is type(original)  # plain


def test_teacher_refreshes_at_stage_boundaries_only_when_asked(refreshed):
    ofa, _, _ = refreshed
    still = make_ofa(REFRESH_RUN, lambda_label=1.0)  # without refresh the given teacher stays
    assert not any(still.refreshes_teacher_at(e) for e in range(5))
    assert [e for e in range(6) if ofa.refreshes_teacher_at(e)] == [1, 2, 3]


def test_teacher_refresh_settings_are_checked(refreshed):
    ofa, _, _ = refreshed
    with pytest.raises(ValueError, match="teacher_refresh must be 'none' or 'stage'"):
        DistillConfig(teacher_refresh="epoch")
    with pytest.raises(ValueError, match="needs a teacher_model"):
        OFA(copy.deepcopy(ofa.model), REFRESH_RUN, DistillConfig(teacher_refresh="stage"))


def test_custom_distill_fn_and_regression_mse():
    calls = []

    def l1(student, teacher, mask):
        calls.append((student.shape, teacher.shape))
        return (student - teacher).abs().mean()

    ofa = make_ofa(distill_fn=l1, num_labels=1).eval()
    ofa.set_active_subnet(bo.SubnetConfig([0, 2], [2, 2], [18, 18], 32))
    student, teacher = ofa(**tiny_batch())
    loss = ofa.calc_distill_loss()
    assert len(calls) == 3  # embeddings + 2 kept layers
    hidden = torch.stack([(student.hidden_states[s] - teacher.hidden_states[t]).abs().mean()
                          for s, t in [(0, 0), (1, 2), (2, 4)]]).mean()
    mse = torch.nn.functional.mse_loss(student.logits, teacher.logits)
    assert loss.item() == pytest.approx((0.1 * hidden + mse).item(), rel=1e-5)


def test_hidden_weight_per_stage():
    """DynaBERT weights hidden states differently per stage: each stage uses its own weight."""
    ofa = make_ofa(lambda_distill=0.0, lambda_distill_stages={"width": 0.5, "hidden": 2.0}).eval()
    assert ofa.distill_config.needs_hidden  # a stage weight > 0 asks for hidden states
    ofa.set_active_subnet(SMALL)
    batch = tiny_batch()
    expected = {"largest": None, "width": 0.5, "depth": None, "hidden": 2.0}
    for epoch, phase in enumerate(ofa.schedule.phases):
        ofa.set_epoch(epoch)
        student, teacher = ofa(**batch)
        ofa.calc_distill_loss()
        weight = expected[phase.stage]
        if weight is None:
            assert "hidden" not in ofa.last_losses
        else:
            raw = ofa._hidden_loss(student, teacher, batch["attention_mask"], ofa.distill_config).item()
            assert raw > 0 and ofa.last_losses["hidden"] == pytest.approx(weight * raw, rel=1e-6)


def test_hidden_loss_without_stage_weights_needs_no_phase():
    plain = make_ofa().eval()  # without per-stage weights the loss needs no phase: fine after the schedule
    plain.set_epoch(plain.num_epochs)
    plain.set_active_subnet(SMALL)
    plain(**tiny_batch())
    assert plain.calc_distill_loss().item() > 0 and plain.last_losses["hidden"] > 0


@pytest.mark.parametrize("build, match", [
    (lambda: make_ofa(lambda_distill_stages={"tallness": 1.0}), r"names stages \['tallness'\] that this schedule lacks"),
    (lambda: DistillConfig(lambda_distill_stages={"width": -1.0}), "numbers >= 0"),
    (lambda: DistillConfig(lambda_distill_stages=[0.1, 1.0]), "maps stage names to weights"),
])
def test_bad_stage_weights(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_projection_is_trained_with_the_student():
    ofa = make_ofa()
    names = [n for n, _ in ofa.named_parameters()]
    assert "projection.weight" in names and not any(n.startswith("_teacher") for n in names)
    assert not any(k.startswith("_teacher") for k in ofa.state_dict())
    optimizer = bo.training.optim.make_optimizer(ofa, 0.01)
    assert any(p is ofa.projection.weight for g in optimizer.param_groups for p in g["params"])


def test_teacher_cache_is_per_batch_tensor():
    ofa = make_ofa().eval()
    calls = []
    ofa.teacher.register_forward_hook(lambda *a: calls.append(1))
    batch = tiny_batch()
    for sub in ofa.sample_subnets(0) + ofa.sample_subnets(1):
        ofa.set_active_subnet(sub)
        ofa(**batch)
    assert len(calls) == 1  # one batch: one teacher forward, whatever the number of subnets
    for _ in range(3):  # fresh batches (freed after each call) always get their own teacher forward
        ofa(**tiny_batch())
    assert len(calls) == 4
    batch["input_ids"][0, 0] = 7  # changed in place: the cache must not answer
    ofa(**batch)
    assert len(calls) == 5


@pytest.mark.parametrize("align", [False, True])
def test_reordering_the_teacher_too_lines_up_attention_maps(align):
    """Heads reordered in the student only: its head i is not the teacher's, so the attention
    loss of the largest subnet (the same function as the teacher) is not zero."""
    teacher = tiny_model("bert", num_labels=2)
    student = copy.deepcopy(teacher)
    labelled = {**tiny_batch(), "labels": torch.tensor([0, 1, 1])}
    perms = bo.reorder_by_importance(student, bo.compute_importance(student, [labelled]),
                                     teacher=teacher if align else None)
    assert any(not torch.equal(p, torch.arange(len(p))) for p in perms["heads"])
    convert(student, HALF_WIDTH)
    ofa = OFA(student, RunConfig(n_epochs=[[1], [2]]),
              DistillConfig(teacher_model=teacher, lambda_attention=1.0, attention_loss="kl")).eval()
    ofa(**tiny_batch())
    ofa.calc_distill_loss()
    assert ofa.last_losses["hidden"] < 1e-10  # hidden states line up either way
    assert (ofa.last_losses["attention"] < 1e-6) == align
