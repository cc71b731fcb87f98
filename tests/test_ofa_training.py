"""OFA training: schedule, sampling, distillation losses, importance, resume, two processes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import ARCHS, tiny_batch, tiny_model

import bert_ofa as bo
from bert_ofa import OFA, DistillConfig, OFATrainingArguments, RunConfig, train_ofa
from bert_ofa.training.trainer import phase_lr

SPACE = dict(expand_ratio=[0.25, 0.5, 0.75], depth=[2, 3], hidden_size=[16, 24])


def toy_data(n=48, seq=10, seed=0):
    """Label = whether token 5 appears: learnable by a tiny model."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for i in range(n):
        ids = torch.randint(6, 99, (seq,), generator=g)
        if i % 2:
            ids[int(torch.randint(0, seq, (1,), generator=g))] = 5
        data.append({"input_ids": ids, "attention_mask": torch.ones(seq, dtype=torch.long), "labels": torch.tensor(i % 2)})
    return data


def collate(examples):
    return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}


def make_ofa(run=None, distill=True, space=SPACE, num_labels=2, **dkw):
    teacher = tiny_model("bert", num_labels=num_labels)
    student = bo.Convert(bo.supernet(**space)).convert(copy.deepcopy(teacher))
    dc = DistillConfig(teacher_model=teacher, **dkw) if distill else None
    return OFA(student, run or RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]]), dc)


def test_schedule_phases_and_allowed_choices():
    ofa = make_ofa(RunConfig(n_epochs=[[1], [2, 3], [4, 6], [7]], init_learning_rate=[1e-3, [2e-3, 3e-3], [4e-3, 5e-3], 6e-3],
                             dynamic_batch_size=[1, 4, 3, 2]))
    phases = ofa.schedule.phases
    assert [(p.stage, p.start_epoch, p.end_epoch) for p in phases] == [
        ("largest", 0, 1), ("width", 1, 2), ("width", 2, 3), ("depth", 3, 4), ("depth", 4, 6), ("hidden", 6, 7)]
    assert [p.learning_rate for p in phases] == [1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3]
    assert phases[1].space.heads == (2, 3, 4) and phases[2].space.heads == (1, 2, 3, 4)
    assert phases[2].space.depth == (4,) and phases[3].space.depth == (3, 4) and phases[4].space.depth == (2, 3, 4)
    assert phases[4].space.hidden == (32,) and phases[5].space.hidden == (16, 24, 32)
    seen = {}
    for epoch in range(ofa.num_epochs):
        ofa.set_epoch(epoch)
        phase = ofa.current_phase
        for _ in range(30):
            subs = ofa.sample_subnets()
            assert len(subs) == phase.subnets_per_step
            for sub in subs:
                sub.validate(phase.space)  # only choices open in this phase
            seen.setdefault(phase.index, []).extend(subs)
    assert all(s == ofa.largest_subnet() for s in seen[0])
    for index in range(1, 6):  # sandwich: the largest and the phase's smallest every step
        space = phases[index].space
        assert bo.largest_subnet(space) in seen[index] and bo.smallest_subnet(space) in seen[index]
    assert any(s.hidden == 16 for s in seen[5]) and min(min(s.heads) for s in seen[2]) == 1
    # the learning rate of each phase is really used: it starts each phase at its value
    for p in phases:
        assert phase_lr(ofa, p.start_epoch, 0, 10, 0.0) == pytest.approx(p.learning_rate)
    assert phase_lr(ofa, 5, 9, 10, 0.0) == pytest.approx(5e-3 * 1 / 20)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_epochs=[[2, 1]]), "strictly increasing"),
    (dict(sampling="greedy"), "sandwich"),
    (dict(elastic_order=["width", "tallness"]), "unknown stages"),
    (dict(dynamic_batch_size=0), ">= 1"),
    (dict(uniform_prob=1.5), "probability in \\[0, 1\\]"),
])
def test_run_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(**kwargs)


@pytest.mark.parametrize("uniform_prob", [0.0, 0.5, 1.0])
def test_uniform_prob_draws_grid_subnets(uniform_prob):
    ofa = make_ofa(RunConfig(n_epochs=[[1], [2], [3], [4]], dynamic_batch_size=4, uniform_prob=uniform_prob))
    space = ofa.schedule.phases[2].space  # depth stage: every width and depth open, full hidden
    ofa.set_epoch(2)
    uniform = []
    for _ in range(100):
        for sub in ofa.sample_subnets()[2:]:  # the random ones (after largest and smallest)
            sub.validate(space)
            same = len(set(sub.heads)) == 1 and len(set(sub.ffn)) == 1
            # a grid subnet scales heads and FFN by the same step: 4 heads <-> FFN 72, 3 <-> 54 ...
            paired = same and space.heads.index(sub.heads[0]) == space.ffn.index(sub.ffn[0])
            uniform.append(paired)
    share = sum(uniform) / len(uniform)
    if uniform_prob == 1.0:
        assert share == 1.0
    else:  # per-layer draws are rarely grid-shaped by chance (every layer must match, heads and FFN paired)
        assert abs(share - uniform_prob) < 0.12, share


def test_schedule_errors():
    with pytest.raises(ValueError, match="init_learning_rate needs one value per phase"):
        make_ofa(RunConfig(n_epochs=[[1], [2], [3], [4]], init_learning_rate=[1e-3, 2e-3]))
    with pytest.raises(ValueError, match="n_epochs has 2 stages"):
        make_ofa(RunConfig(n_epochs=[[1], [2]]))
    with pytest.raises(ValueError, match="elastic_depth \\[1\\] not in"):
        make_ofa(RunConfig(elastic_depth=[1]))
    with pytest.raises(ValueError, match="not a supernet"):
        OFA(tiny_model("bert"))


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
    with pytest.raises(ValueError, match="attention_loss must be one of"):
        DistillConfig(attention_loss="cosine")


def test_teacher_refresh_makes_the_trained_supernet_the_teacher(tmp_path):
    run = RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]], init_learning_rate=2e-3)
    ofa = make_ofa(run, lambda_label=1.0, teacher_refresh="stage")
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

    train_ofa(ofa, toy_data(24), collate, OFATrainingArguments(output_dir=str(tmp_path), disable_tqdm=True),
              on_phase_end=check)
    assert [s[:3] for s in seen[:3]] == [(0, False, True), (1, False, True), (2, False, True)]
    assert all(abs(s[3]) < 1e-6 for s in seen[:3])  # distillation loss zero at the largest subnet
    assert seen[3][2] is False  # a frozen copy: the supernet trained on after the last swap, the teacher did not
    assert not any(p.requires_grad for p in ofa.teacher.parameters())
    assert not any(k.startswith("_teacher") for k in ofa.state_dict())  # never saved with the supernet
    assert not hasattr(ofa.teacher, bo.core.convert.STATE_ATTR) and type(ofa.teacher) is type(original)  # plain

    still = make_ofa(run, lambda_label=1.0)  # without refresh the given teacher stays
    assert not any(still.refreshes_teacher_at(e) for e in range(5))
    assert [e for e in range(6) if ofa.refreshes_teacher_at(e)] == [1, 2, 3]
    with pytest.raises(ValueError, match="teacher_refresh must be 'none' or 'stage'"):
        DistillConfig(teacher_refresh="epoch")
    with pytest.raises(ValueError, match="needs a teacher_model"):
        OFA(copy.deepcopy(ofa.model), run, DistillConfig(teacher_refresh="stage"))


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
    ofa.set_active_subnet(bo.SubnetConfig([0, 2], [2, 2], [18, 18], 32))
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
    plain = make_ofa().eval()  # without per-stage weights the loss needs no phase: fine after the schedule
    plain.set_epoch(plain.num_epochs)
    plain.set_active_subnet(bo.SubnetConfig([0, 2], [2, 2], [18, 18], 32))
    plain(**batch)
    assert plain.calc_distill_loss().item() > 0 and plain.last_losses["hidden"] > 0
    with pytest.raises(ValueError, match=r"names stages \['tallness'\] that this schedule lacks"):
        make_ofa(lambda_distill_stages={"tallness": 1.0})
    with pytest.raises(ValueError, match="numbers >= 0"):
        DistillConfig(lambda_distill_stages={"width": -1.0})
    with pytest.raises(ValueError, match="maps stage names to weights"):
        DistillConfig(lambda_distill_stages=[0.1, 1.0])


def test_projection_is_trained_with_the_student():
    ofa = make_ofa()
    names = [n for n, _ in ofa.named_parameters()]
    assert "projection.weight" in names and not any(n.startswith("_teacher") for n in names)
    assert not any(k.startswith("_teacher") for k in ofa.state_dict())
    optimizer = bo.training.optim.make_optimizer(ofa, 0.01)
    assert any(p is ofa.projection.weight for g in optimizer.param_groups for p in g["params"])


def test_teacher_runs_once_per_batch_and_loss_decreases(tmp_path):
    ofa = make_ofa(RunConfig(train_batch_size=8, n_epochs=[[2], [4], [6], [8]], init_learning_rate=3e-3,
                             dynamic_batch_size=3), lambda_label=1.0)
    calls = []
    ofa.teacher.register_forward_hook(lambda *a: calls.append(1))
    data = toy_data()
    def eval_loss():
        with torch.no_grad():
            ofa.eval()
            ofa.set_active_subnet(ofa.largest_subnet())
            return ofa.model(**collate(data)).loss.item()
    before = eval_loss()
    state = train_ofa(ofa, data, collate, OFATrainingArguments(output_dir=str(tmp_path), disable_tqdm=True))
    assert state["global_step"] == 8 * 6 and len(calls) == state["global_step"]
    assert eval_loss() < before * 0.8


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


def _weights(ofa):
    return {k: v.detach().clone() for k, v in ofa.state_dict().items()}


@pytest.mark.parametrize("refresh", ["none", "stage"])
def test_resume_gives_the_same_weights(tmp_path, refresh):
    run = RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]], init_learning_rate=2e-3)
    data = toy_data(40)
    ref = make_ofa(run, lambda_label=1.0, teacher_refresh=refresh)
    train_ofa(ref, data, collate, OFATrainingArguments(output_dir=str(tmp_path / "a"), disable_tqdm=True))

    first = make_ofa(run, lambda_label=1.0, teacher_refresh=refresh)
    args = OFATrainingArguments(output_dir=str(tmp_path / "b"), save_steps=3, disable_tqdm=True, max_steps=13)
    train_ofa(first, data, collate, args)
    ckpts = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert ckpts == ["checkpoint-10", "checkpoint-12"]  # keeps the last two; no temporary folders left
    # the stage-2 teacher (refreshed at epoch 2) travels with the checkpoint
    assert (tmp_path / "b" / "checkpoint-12" / "teacher.safetensors").is_file() == (refresh == "stage")
    second = make_ofa(run, lambda_label=1.0, teacher_refresh=refresh)  # as a fresh process would start
    args = OFATrainingArguments(output_dir=str(tmp_path / "b"), save_steps=3, disable_tqdm=True,
                                resume_from_checkpoint="latest")
    # the training time of the interrupted process is carried on, not forgotten
    before = json.loads((tmp_path / "b" / "checkpoint-12" / "trainer_state.json").read_text())["train_time_s"]
    end = train_ofa(second, data, collate, args)
    assert before > 0 and end["resumed_train_time_s"] == before and end["train_time_s"] > before
    want, got = _weights(ref), _weights(second)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k
    if refresh == "stage":
        for a, b in zip(ref.teacher.parameters(), second.teacher.parameters()):
            assert torch.equal(a, b)
        return
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_ofa(make_ofa(run), data, collate,
                  OFATrainingArguments(output_dir=str(tmp_path / "c"), resume_from_checkpoint="latest"))
    # a new run into a folder with another run's checkpoints is refused, unless told to overwrite
    fresh = OFATrainingArguments(output_dir=str(tmp_path / "b"), disable_tqdm=True, max_steps=2)
    with pytest.raises(ValueError, match="--resume_from_checkpoint latest, or start over with --overwrite_output_dir"):
        train_ofa(make_ofa(run), data, collate, fresh)
    fresh.overwrite_output_dir, fresh.save_steps = True, 1
    train_ofa(make_ofa(run), data, collate, fresh)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["checkpoint-1", "checkpoint-2"]


@pytest.mark.parametrize("arch", ARCHS)
def test_importance_reordering_preserves_the_function(arch):
    model = tiny_model(arch)
    batch = tiny_batch()
    labelled = {**batch, "labels": torch.tensor([0, 1, 2])}
    with torch.no_grad():
        want = model(**batch).logits
    importance = bo.compute_importance(model, [labelled], hidden=True)
    perms = bo.reorder_by_importance(model, importance, hidden=True)
    with torch.no_grad():
        assert (model(**batch).logits - want).abs().max().item() <= 1e-5
    assert any(not torch.equal(p, torch.arange(len(p))) for p in perms["ffn"])
    after = bo.compute_importance(model, [labelled])
    for layer in range(after.heads.shape[0]):  # most important first now
        assert torch.all(after.heads[layer][:-1] >= after.heads[layer][1:] * (1 - 1e-4))
    with pytest.raises(ValueError, match="labels"):
        bo.compute_importance(model, [batch])


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
    bo.Convert(bo.supernet(expand_ratio=[0.5])).convert(student)
    ofa = OFA(student, RunConfig(n_epochs=[[1], [2]]),
              DistillConfig(teacher_model=teacher, lambda_attention=1.0, attention_loss="kl")).eval()
    ofa(**tiny_batch())
    ofa.calc_distill_loss()
    assert ofa.last_losses["hidden"] < 1e-10  # hidden states line up either way
    assert (ofa.last_losses["attention"] < 1e-6) == align


def test_two_processes_sample_the_same_subnets_and_end_identical(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    script = Path(__file__).parent / "scripts" / "ddp_train.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"subnets_{r}.json").read_text()) for r in (0, 1))
    assert a["world"] == 2 and a == b
    # each rank trains on its half of the data: 40 examples / (2 ranks x batch 4) = 5 steps per epoch, 3 epochs
    assert a["steps"] == 15 and a["checkpoints"] == ["checkpoint-10", "checkpoint-15"]
    w0, w1 = (torch.load(tmp_path / f"weights_{r}.pt") for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    start = tiny_model("bert").state_dict()
    assert any(not torch.equal(w0[k], start[k]) for k in start)  # it did train
