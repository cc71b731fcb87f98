"""Search algorithms: aging evolution and NSGA-II find known optima, never violate constraints, are seeded;
variation operators stay in the space; infeasible constraints say what is achievable."""

from __future__ import annotations

import random

import pytest
from tiny_models import SEARCH_SPACE, tiny_supernet

import bert_ofa as bo
from bert_ofa.search.algorithms import (InfeasibleConstraintError, check_feasible, crossover, dominates, feasible,
                                        make_constraints, mutate, nsga2, regularized_evolution, repair)
from bert_ofa.search.latency import FEATURES, LatencyModel


@pytest.fixture(scope="module")
def supernet():
    return tiny_supernet("bert", space=SEARCH_SPACE)


def fake_latency(model, per_head=0.1, per_ffn=0.01, per_layer=0.2) -> LatencyModel:
    """A latency model with known coefficients (no measuring): 1 + layers, heads and FFN terms."""
    coef = dict.fromkeys(FEATURES, 0.0) | {"const": 1.0, "layers": per_layer, "heads": per_head, "ffn": per_ffn}
    return LatencyModel(key={}, coef=[coef[f] for f in FEATURES], mape=0.0, n_samples=0)


TARGET = bo.SubnetConfig(layers=[0, 1, 2], heads=[2, 2, 2], ffn=[18, 18, 18], hidden=32)


def distance_to_target(s: bo.SubnetConfig) -> float:
    """A synthetic objective whose unique optimum (0) is TARGET; each one-step change costs 1."""
    return -(sum(abs(h - 2) for h in s.heads) + sum(abs(f - 18) / 9 for f in s.ffn) + 2 * abs(s.depth - 3))


def test_evolution_finds_the_known_optimum(supernet):
    space = bo.get_search_space(supernet)
    result = regularized_evolution(space, distance_to_target, population=16, cycles=300, seed=0)
    assert result.best == TARGET and result.best_values == (0.0,)


def test_a_params_budget_is_never_exceeded(supernet):
    space = bo.get_search_space(supernet)
    limit = bo.count_params(supernet, TARGET) - 1  # the free optimum is just out of budget
    result = regularized_evolution(space, distance_to_target, make_constraints(supernet, max_params=limit),
                                   population=16, cycles=300, seed=0)
    assert result.best_values == (-1.0,)  # the constrained optimum: one step below TARGET somewhere
    assert all(bo.count_params(supernet, s) <= limit for s, _ in result.history)


def _budget(supernet):
    lat = fake_latency(supernet)
    budget = dict(latency_ms=lat.predict(TARGET), max_params=bo.count_params(supernet, TARGET),
                  max_flops=0.9 * bo.count_flops(supernet, TARGET, 16))
    return lat, budget, make_constraints(supernet, lat, seq_len=16, **budget)


def test_constraints_are_named_in_order(supernet):
    _, _, constraints = _budget(supernet)
    assert [c.name for c in constraints] == ["latency_ms", "max_params", "max_flops"]


@pytest.mark.parametrize("algorithm", ["evolution", "nsga2"])
def test_constraints_never_violated(supernet, algorithm):
    space = bo.get_search_space(supernet)
    lat, budget, constraints = _budget(supernet)
    if algorithm == "evolution":
        result = regularized_evolution(space, distance_to_target, constraints, population=10, cycles=60)
    else:
        result = nsga2(space, lambda s: (distance_to_target(s), -lat.predict(s)), constraints,
                       population=10, generations=5, initial=[bo.largest_subnet(space)])
    assert len(result.history) > 20
    for s, _ in result.history:  # every evaluated candidate, so every returned one too
        s.validate(space)
        assert lat.predict(s) <= budget["latency_ms"]
        assert bo.count_params(supernet, s) <= budget["max_params"]
        assert bo.count_flops(supernet, s, 16) <= budget["max_flops"]


@pytest.mark.parametrize("algorithm", ["nsga2", "evolution"])
def test_same_seed_same_result(supernet, algorithm):
    space = bo.get_search_space(supernet)

    def objectives(s):
        return distance_to_target(s), -sum(s.ffn)

    def keys(result):
        return [(s.to_json(), v) for s, v in result.history]

    if algorithm == "nsga2":
        runs = [nsga2(space, objectives, population=8, generations=4, seed=seed) for seed in (3, 3, 4)]
    else:
        runs = [regularized_evolution(space, distance_to_target, population=8, cycles=40, seed=seed)
                for seed in (3, 3, 4)]
    assert keys(runs[0]) == keys(runs[1]) and keys(runs[0]) != keys(runs[2])


def test_nsga2_returns_the_non_dominated_front(supernet):
    space = bo.get_search_space(supernet)
    # more heads is better, more FFN is worse: the true front is all-4-heads, all-9-FFN at each depth
    result = nsga2(space, lambda s: (sum(s.heads), -sum(s.ffn)), population=12, generations=15, seed=0)
    front = [v for _, v in result.front]
    assert not any(dominates(a, b) for a in front for b in front)
    assert not any(dominates(v, f) for _, v in result.history for f in front)
    assert sorted(front) == [(8.0, -18.0), (12.0, -27.0), (16.0, -36.0)]


def test_variation_operators_stay_in_the_space(supernet):
    space, rng = bo.get_search_space(supernet), random.Random(0)
    constraints = make_constraints(supernet, max_params=bo.count_params(supernet, bo.smallest_subnet(space)) + 500)
    for i in range(200):
        a, b = bo.sample_subnet(space, rng), bo.sample_subnet(space, rng)
        child = mutate(space, crossover(space, a, b, rng), rng)
        child.validate(space)
        fixed = repair(space, child, constraints, rng)
        assert fixed is not None and feasible(fixed, constraints)
        fixed.validate(space)


def test_mutation_always_changes_something(supernet):
    space, rng = bo.get_search_space(supernet), random.Random(0)
    a = bo.sample_subnet(space, rng)
    mutated = [mutate(space, a, rng, prob=0.0) for _ in range(5)]
    assert all(m != a for m in mutated)


def test_infeasible_constraints_name_the_least_achievable_value(supernet):
    space = bo.get_search_space(supernet)
    lat = fake_latency(supernet)
    least = lat.predict(bo.smallest_subnet(space))
    assert least == pytest.approx(1 + 2 * 0.2 + 2 * 0.1 + 2 * 9 * 0.01) == lat.min_latency(space)
    with pytest.raises(InfeasibleConstraintError, match=rf"latency_ms=1 cannot be met.*needs {least:g} ms"):
        check_feasible(space, make_constraints(supernet, lat, latency_ms=1.0))
    smallest_params = bo.count_params(supernet, bo.smallest_subnet(space))
    with pytest.raises(InfeasibleConstraintError, match=f"max_params=100 .* at least {smallest_params}"):
        check_feasible(space, make_constraints(supernet, max_params=100))
    check_feasible(space, make_constraints(supernet, lat, latency_ms=least, max_params=smallest_params))
