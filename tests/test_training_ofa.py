"""OFA training: the loss falls, the teacher runs once per batch, resuming gives the same weights, and two
processes sample the same subnets and end identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import collate, make_ofa, tiny_model, toy_data

from bert_ofa import OFATrainingArguments, RunConfig, train_ofa

RUN = RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]], init_learning_rate=2e-3)


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


def _weights(ofa):
    return {k: v.detach().clone() for k, v in ofa.state_dict().items()}


@pytest.fixture(scope="module", params=["none", "stage"])
def resumed(request, tmp_path_factory):
    """One uninterrupted run, and the same run stopped at step 13 and resumed from its last checkpoint."""
    refresh, tmp_path = request.param, tmp_path_factory.mktemp(f"resume-{request.param}")
    data = toy_data(40)
    ref = make_ofa(RUN, lambda_label=1.0, teacher_refresh=refresh)
    train_ofa(ref, data, collate, OFATrainingArguments(output_dir=str(tmp_path / "a"), disable_tqdm=True))
    first = make_ofa(RUN, lambda_label=1.0, teacher_refresh=refresh)
    args = OFATrainingArguments(output_dir=str(tmp_path / "b"), save_steps=3, disable_tqdm=True, max_steps=13)
    train_ofa(first, data, collate, args)
    interrupted = {"checkpoints": sorted(p.name for p in (tmp_path / "b").iterdir()),
                   "teacher_saved": (tmp_path / "b" / "checkpoint-12" / "teacher.safetensors").is_file(),
                   "train_time_s": json.loads((tmp_path / "b" / "checkpoint-12" / "trainer_state.json").read_text())[
                       "train_time_s"]}
    second = make_ofa(RUN, lambda_label=1.0, teacher_refresh=refresh)  # as a fresh process would start
    args = OFATrainingArguments(output_dir=str(tmp_path / "b"), save_steps=3, disable_tqdm=True,
                                resume_from_checkpoint="latest")
    end = train_ofa(second, data, collate, args)
    return dict(refresh=refresh, ref=ref, second=second, end=end, **interrupted)


def test_interrupted_run_keeps_the_last_two_checkpoints(resumed):
    assert resumed["checkpoints"] == ["checkpoint-10", "checkpoint-12"]  # no temporary folders left


def test_refreshed_teacher_travels_with_the_checkpoint(resumed):
    # the stage-2 teacher (refreshed at epoch 2) travels with the checkpoint
    assert resumed["teacher_saved"] == (resumed["refresh"] == "stage")


def test_resume_carries_on_the_training_time(resumed):
    # the training time of the interrupted process is carried on, not forgotten
    before, end = resumed["train_time_s"], resumed["end"]
    assert before > 0 and end["resumed_train_time_s"] == before and end["train_time_s"] > before


def test_resume_gives_the_same_weights(resumed):
    want, got = _weights(resumed["ref"]), _weights(resumed["second"])
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k


def test_resume_gives_the_same_teacher(resumed):  # refreshed at epoch 2 with "stage"; the given one otherwise
    for a, b in zip(resumed["ref"].teacher.parameters(), resumed["second"].teacher.parameters()):
        assert torch.equal(a, b)


def test_resume_without_a_checkpoint_fails(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_ofa(make_ofa(RUN), toy_data(40), collate,
                  OFATrainingArguments(output_dir=str(tmp_path / "c"), resume_from_checkpoint="latest"))


def test_a_new_run_into_a_folder_with_checkpoints_needs_overwrite(tmp_path):
    data = toy_data(40)
    train_ofa(make_ofa(RUN), data, collate, OFATrainingArguments(output_dir=str(tmp_path / "b"), save_steps=3,
                                                                 disable_tqdm=True, max_steps=13))
    # a new run into a folder with another run's checkpoints is refused, unless told to overwrite
    fresh = OFATrainingArguments(output_dir=str(tmp_path / "b"), disable_tqdm=True, max_steps=2)
    with pytest.raises(ValueError, match="--resume_from_checkpoint latest, or start over with --overwrite_output_dir"):
        train_ofa(make_ofa(RUN), data, collate, fresh)
    fresh.overwrite_output_dir, fresh.save_steps = True, 1
    train_ofa(make_ofa(RUN), data, collate, fresh)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["checkpoint-1", "checkpoint-2"]


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
