"""The OFA schedule: phases, the choices each phase opens, sandwich sampling, per-phase learning rates, errors."""

from __future__ import annotations

import pytest
from tiny_models import make_ofa, tiny_model

import bert_ofa as bo
from bert_ofa import OFA, RunConfig
from bert_ofa.training.trainer import phase_lr


def schedule_ofa():
    return make_ofa(RunConfig(n_epochs=[[1], [2, 3], [4, 6], [7]], init_learning_rate=[1e-3, [2e-3, 3e-3], [4e-3, 5e-3], 6e-3],
                              dynamic_batch_size=[1, 4, 3, 2]))


@pytest.fixture(scope="module")
def sampled():
    """Thirty steps of sampling in every epoch of the schedule: {phase index: subnets}."""
    ofa = schedule_ofa()
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
    return ofa, seen


def test_schedule_phases():
    phases = schedule_ofa().schedule.phases
    assert [(p.stage, p.start_epoch, p.end_epoch) for p in phases] == [
        ("largest", 0, 1), ("width", 1, 2), ("width", 2, 3), ("depth", 3, 4), ("depth", 4, 6), ("hidden", 6, 7)]
    assert [p.learning_rate for p in phases] == [1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3]


def test_each_phase_opens_its_choices():
    phases = schedule_ofa().schedule.phases
    assert phases[1].space.heads == (2, 3, 4) and phases[2].space.heads == (1, 2, 3, 4)
    assert phases[2].space.depth == (4,) and phases[3].space.depth == (3, 4) and phases[4].space.depth == (2, 3, 4)
    assert phases[4].space.hidden == (32,) and phases[5].space.hidden == (16, 24, 32)


def test_sampling_draws_only_open_choices_per_step(sampled):
    ofa, seen = sampled  # the fixture checks the count per step and that each subnet is in its phase
    assert set(seen) == set(range(len(ofa.schedule.phases)))


def test_sandwich_sampling_takes_the_largest_and_the_smallest(sampled):
    ofa, seen = sampled
    phases = ofa.schedule.phases
    assert all(s == ofa.largest_subnet() for s in seen[0])
    for index in range(1, 6):  # sandwich: the largest and the phase's smallest every step
        space = phases[index].space
        assert bo.largest_subnet(space) in seen[index] and bo.smallest_subnet(space) in seen[index]
    assert any(s.hidden == 16 for s in seen[5]) and min(min(s.heads) for s in seen[2]) == 1


def test_each_phase_starts_at_its_learning_rate():
    ofa = schedule_ofa()
    for p in ofa.schedule.phases:
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


@pytest.mark.parametrize("run, match", [
    (dict(n_epochs=[[1], [2], [3], [4]], init_learning_rate=[1e-3, 2e-3]), "init_learning_rate needs one value per phase"),
    (dict(n_epochs=[[1], [2]]), "n_epochs has 2 stages"),
    (dict(elastic_depth=[1]), "elastic_depth \\[1\\] not in"),
])
def test_schedule_errors(run, match):
    with pytest.raises(ValueError, match=match):
        make_ofa(RunConfig(**run))


def test_ofa_needs_a_supernet():
    with pytest.raises(ValueError, match="not a supernet"):
        OFA(tiny_model("bert"))
