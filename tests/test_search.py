"""Hardware-aware search: latency model and its cache, held-out scoring, evolutionary and
NSGA-II search under constraints, and ``run_search`` end to end on a tiny supernet."""

from __future__ import annotations

import json
import random

import glue_tasks
import pytest
import torch
from tiny_models import tiny_model

import bert_ofa as bo
from bert_ofa.search.accuracy import AccuracyScorer, accuracy_features, fit_accuracy_predictor
from glue_tasks.prepare import heldout_batches, save_heldout, split_heldout, task_score_fn
from bert_ofa.search.latency import (FEATURES, LatencyModel, build_latency_model, cache_path, feature_names, fit_coefficients, latency_features, latency_key, space_choices, measure_latency)
from bert_ofa.core.sampling import corner_subnets, spread_subnets
from bert_ofa.search.algorithms import (InfeasibleConstraintError, check_feasible, crossover, dominates, feasible, make_constraints, mutate, nsga2, regularized_evolution, repair)
from bert_ofa.app.search_job import SearchArguments, run_search

SPACE = dict(num_heads=[1, 2, 3], intermediate_size=[9, 18, 28], depth=[2, 3])  # heads 1-4, ffn 9-37, depth 2-4


@pytest.fixture(scope="module")
def supernet():
    return bo.Convert(bo.supernet(**SPACE)).convert(tiny_model("bert"))


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


def test_constraints_never_violated(supernet):
    space = bo.get_search_space(supernet)
    limit = bo.count_params(supernet, TARGET) - 1  # the free optimum is just out of budget
    result = regularized_evolution(space, distance_to_target, make_constraints(supernet, max_params=limit),
                                   population=16, cycles=300, seed=0)
    assert result.best_values == (-1.0,)  # the constrained optimum: one step below TARGET somewhere
    assert all(bo.count_params(supernet, s) <= limit for s, _ in result.history)

    lat = fake_latency(supernet)
    budget = dict(latency_ms=lat.predict(TARGET), max_params=bo.count_params(supernet, TARGET),
                  max_flops=0.9 * bo.count_flops(supernet, TARGET, 16))
    constraints = make_constraints(supernet, lat, seq_len=16, **budget)
    assert [c.name for c in constraints] == ["latency_ms", "max_params", "max_flops"]
    for search in (lambda: regularized_evolution(space, distance_to_target, constraints, population=10, cycles=60),
                   lambda: nsga2(space, lambda s: (distance_to_target(s), -lat.predict(s)), constraints,
                                 population=10, generations=5, initial=[bo.largest_subnet(space)])):
        result = search()
        assert len(result.history) > 20
        for s, _ in result.history:  # every evaluated candidate, so every returned one too
            s.validate(space)
            assert lat.predict(s) <= budget["latency_ms"]
            assert bo.count_params(supernet, s) <= budget["max_params"]
            assert bo.count_flops(supernet, s, 16) <= budget["max_flops"]


def test_same_seed_same_result(supernet):
    space = bo.get_search_space(supernet)

    def objectives(s):
        return distance_to_target(s), -sum(s.ffn)

    def keys(result):
        return [(s.to_json(), v) for s, v in result.history]

    runs = [nsga2(space, objectives, population=8, generations=4, seed=seed) for seed in (3, 3, 4)]
    assert keys(runs[0]) == keys(runs[1]) and keys(runs[0]) != keys(runs[2])
    runs = [regularized_evolution(space, distance_to_target, population=8, cycles=40, seed=seed) for seed in (3, 3, 4)]
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
    mutated = [mutate(space, a, rng, prob=0.0) for _ in range(5)]  # always changes something
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


def test_latency_model_cache_and_rebuild(supernet, tmp_path, monkeypatch):
    def build(**kw):
        args = dict(batch_size=1, seq_len=16, n_samples=6, threads=1, cache_dir=tmp_path, progress=False, warmup=1,
                    repeats=3) | kw
        return build_latency_model(supernet, **args)

    first = build()
    assert not first.from_cache and first.cache_file and len(first.measurements) == 6 + 4
    assert first.mape >= 0 and json.loads(open(first.cache_file).read())["mape"] == first.mape
    again = build()
    assert again.from_cache and again == first  # same key: loaded, not measured
    largest, smallest = bo.largest_subnet(supernet), bo.smallest_subnet(supernet)
    assert first.predict(largest) > first.predict(smallest) > 0
    assert all(first.predict(bo.sample_subnet(supernet, i)) > 0 for i in range(10))
    assert all(c >= 0 for c in first.coef)
    assert measure_latency(supernet, smallest, seq_len=16, threads=1, warmup=1, repeats=3) > 0

    assert not build(batch_size=2).from_cache
    # threads are part of the key too (not measured here: 2 threads would fight the machine's other jobs)
    assert cache_path(tmp_path, latency_key(supernet, 1, 16, threads=2)) != cache_path(tmp_path, first.key)
    assert not build(n_samples=8).from_cache  # more samples asked than cached
    monkeypatch.setattr("bert_ofa.search.latency.device_name", lambda device: "another CPU")
    other = build()
    assert not other.from_cache and other.key["device"] == "another CPU"
    assert len(list(tmp_path.glob("latency-cpu-*.json"))) == 3  # one file per key


def test_latency_features_are_monotone(supernet):
    space = bo.get_search_space(supernet)
    choices = space_choices(space)
    small = latency_features(bo.smallest_subnet(space), choices)
    big = latency_features(bo.largest_subnet(space), choices)
    assert len(big) == len(feature_names(choices)) > len(FEATURES)
    assert (small <= big).all() and (small[:len(FEATURES)] > 0).all() and (big > 0).all()
    rng = random.Random(0)
    for _ in range(20):  # widening one layer never lowers a feature
        sub = bo.sample_subnet(space, rng)
        heads = list(sub.heads)
        heads[0] = max(space.heads)
        wider = bo.SubnetConfig(sub.layers, heads, sub.ffn, sub.hidden)
        assert (latency_features(wider, choices) >= latency_features(sub, choices)).all()


def test_step_features_fit_a_nonlinear_per_choice_cost(supernet):
    """Per-layer costs that are not linear in width (small GEMMs are slow per FLOP) are fitted exactly."""
    space = bo.get_search_space(supernet)
    choices = space_choices(space)
    head_cost = {c: 0.5 + 0.01 * c for c in space.heads}  # a fixed cost per layer plus a little per head
    ffn_cost = {c: 1.0 + 0.002 * c + (0.4 if c > min(space.ffn) else 0) for c in space.ffn}

    def true_ms(s):
        return 2.0 + sum(head_cost[h] + ffn_cost[f] for h, f in zip(s.heads, s.ffn))

    rng = random.Random(1)
    fit = spread_subnets(space, 30, rng) + corner_subnets(space, 10, rng)
    test = corner_subnets(space, 20, rng) + spread_subnets(space, 20, rng)
    coef = fit_coefficients(fit, [true_ms(s) for s in fit], choices)
    lat = LatencyModel(key={}, coef=coef, mape=0.0, n_samples=len(fit), choices=choices)
    assert max(abs(lat.predict(s) / true_ms(s) - 1) for s in test) < 1e-6
    linear = LatencyModel(key={}, coef=fit_coefficients(fit, [true_ms(s) for s in fit]), mape=0.0, n_samples=0)
    assert max(abs(linear.predict(s) / true_ms(s) - 1) for s in test) > 1e-3  # the step features are needed
    assert LatencyModel.from_dict(lat.to_dict()) == lat  # round trip keeps the choices


@pytest.fixture
def sst2_batches(tiny_bert, glue_dir):
    model, tokenizer = tiny_bert()  # 2 layers
    bo.Convert(bo.supernet(expand_ratio=[0.5], depth=[1])).convert(model)
    return model, heldout_batches("sst2", tokenizer, glue_dir, n_samples=6, seed=0, batch_size=4)


def test_accuracy_scoring_is_cached(sst2_batches, tmp_path):
    model, batches = sst2_batches
    assert sum(len(b["labels"]) for b in batches) == 6 and len(batches) == 2
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    score_fn = task_score_fn("sst2")
    scorer = AccuracyScorer(model, batches, score_fn, cache_file=tmp_path / "scores.json", meta={"run": 1})
    sub = bo.sample_subnet(model, seed=1)
    first = scorer(sub)
    assert len(calls) == 2 and 0.0 <= first <= 1.0
    assert scorer(bo.SubnetConfig.from_json(sub.to_json())) == first and len(calls) == 2  # no model run
    assert scorer.evaluations == 1
    assert bo.get_active_subnet(model) == bo.largest_subnet(model)  # scoring leaves the supernet as it was

    reloaded = AccuracyScorer(model, batches, score_fn, cache_file=tmp_path / "scores.json", meta={"run": 1})
    assert reloaded(sub) == first and len(calls) == 2
    other = AccuracyScorer(model, batches, score_fn, cache_file=tmp_path / "scores.json", meta={"run": 2})
    assert other(sub) == first and len(calls) == 4  # another supernet or slice: scored again
    assert AccuracyScorer(model, batches, task_score_fn("sst2", "loss"))(sub) < 0
    with pytest.raises(ValueError, match="metric must be 'loss' or one of"):
        task_score_fn("sst2", "f1")


def test_accuracy_predictor_ranks_subnets(supernet):
    space, rng = bo.get_search_space(supernet), random.Random(0)
    subnets = [bo.sample_subnet(space, rng) for _ in range(40)]
    scores = [0.5 + 0.3 * accuracy_features(space, s)[4:8].mean() + 0.1 * s.depth + rng.gauss(0, 0.005)
              for s in subnets]
    predictor = fit_accuracy_predictor(space, subnets, scores)
    assert predictor.spearman > 0.9
    assert predictor.predict(bo.largest_subnet(space)) > predictor.predict(bo.smallest_subnet(space))


def test_split_heldout_rules():
    rows = split_heldout(1000, 256, seed=42)
    assert len(rows) == 100 and rows == sorted(set(rows)) and max(rows) < 1000  # capped at 10%
    assert rows == split_heldout(1000, 256, seed=42) != split_heldout(1000, 256, seed=43)
    assert len(split_heldout(1000, 30, seed=0)) == 30
    assert len(split_heldout(2, 256, seed=0)) == 1 and split_heldout(1, 5, seed=0) == []  # a row stays for training
    assert split_heldout(1000, 0, seed=0) == []


def test_heldout_batches_use_the_reserved_rows(tiny_bert, glue_dir):
    _, tokenizer = tiny_bert()
    train = glue_tasks.load_glue("sst2", glue_dir, splits=["train"])["train"]
    batches = heldout_batches("sst2", tokenizer, glue_dir, n_samples=2, indices=[5, 1, 3], batch_size=4)
    got = sorted(ids[m.bool()].tolist() for b in batches for ids, m in zip(b["input_ids"], b["attention_mask"]))
    want = sorted(tokenizer(train[i]["sentence"])["input_ids"] for i in (5, 1))  # the first n_samples rows given
    assert got == want and want[0] != want[1]
    with pytest.raises(ValueError, match="do not fit SST-2's training split of 8 rows"):
        heldout_batches("sst2", tokenizer, glue_dir, n_samples=2, indices=[3, 99])


def test_run_search_end_to_end(tiny_bert, glue_dir, tmp_path):
    model, tokenizer = tiny_bert()
    bo.Convert(bo.supernet(expand_ratio=[0.5], depth=[1])).convert(model)
    bo.save_supernet(model, tmp_path / "supernet", tokenizer)
    cache = tmp_path / "latency"
    common = dict(supernet=tmp_path / "supernet", task_name="sst2", glue_dir=str(glue_dir), threads=1, seq_len=32,
                  latency_samples=6, latency_cache_dir=str(cache), heldout_samples=8, population=6, generations=2)
    lat = build_latency_model(bo.load_supernet(tmp_path / "supernet"), 1, 32, 6, threads=1, cache_dir=cache,
                              progress=False)
    space = bo.get_search_space(model)
    budget = (lat.predict(bo.largest_subnet(space)) + lat.predict(bo.smallest_subnet(space))) / 2

    save_heldout(tmp_path / "supernet", "sst2", [0, 2, 4, 6, 7], 8)  # as run_glue_ofa keeps rows out
    result = run_search(SearchArguments(output_dir=str(tmp_path / "out"), latency_ms=budget, **common))
    out = tmp_path / "out"
    chosen = bo.SubnetConfig.from_json(out / "subnet.json").validate(space)
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["latency_model"]["cache_file"] == lat.cache_file  # built above: reused, not measured again
    assert pareto["front"] and all(r["latency_ms_predicted"] <= budget for r in pareto["front"])
    assert chosen.to_dict() in [r["subnet"] for r in pareto["front"]]
    row = pareto["front"][0]
    assert {"latency_ms_measured", "params", "flops", "heldout_score"} <= set(row) and row["latency_ms_measured"] > 0
    names = [r["name"] for r in pareto["references"]]  # width 0.5 x depth 0.5 is the smallest here: listed once
    assert names == ["largest", "smallest", "width 1.0 x depth 0.5", "width 0.5 x depth 1.0"]
    assert "eval_accuracy" in pareto["chosen"]["dev_metrics"]
    assert result["dev_metrics"] == pareto["chosen"]["dev_metrics"] and result["subnet"] == chosen.to_dict()
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "heldout_scores.json").is_file()
    assert pareto["heldout"] == {"source": "kept out of OFA training", "samples": 5}
    lm = pareto["latency_model"]
    assert lm["front_mape_percent"] >= 0 and lm["front_mape_rescaled_percent"] >= 0 and lm["speed_drift"] > 0

    # aging evolution on the accuracy predictor, no latency budget; without heldout.json, a training slice
    (tmp_path / "supernet" / "heldout.json").unlink()
    result = run_search(SearchArguments(output_dir=str(tmp_path / "out2"), algorithm="evolution", use_predictor=True,
                                        predictor_samples=8, **common))
    pareto2 = json.loads((tmp_path / "out2" / "pareto.json").read_text())
    assert pareto2["predictor_spearman"] is not None and pareto2["heldout"]["samples"] == 8
    assert pareto2["heldout"]["source"].startswith("training slice")
    save_heldout(tmp_path / "supernet", "mrpc", [0], 8)
    with pytest.raises(ValueError, match="held-out rows are from mrpc, not sst2"):
        run_search(SearchArguments(output_dir=str(tmp_path / "out3"), **common))
    assert bo.SubnetConfig.from_json(tmp_path / "out2" / "subnet.json").validate(space)

    smallest = lat.predict(bo.smallest_subnet(space))
    with pytest.raises(InfeasibleConstraintError, match=f"latency_ms=0.001 cannot be met.*{smallest:g} ms"):
        run_search(SearchArguments(output_dir=str(tmp_path / "out3"), latency_ms=0.001, **common))
    with pytest.raises(InfeasibleConstraintError, match="max_params=10 cannot be met"):
        run_search(SearchArguments(output_dir=str(tmp_path / "out3"), max_params=10, **common))


def test_search_arguments_validation(tmp_path, glue_dir):
    with pytest.raises(FileNotFoundError, match="not a supernet directory"):
        SearchArguments(supernet=str(tmp_path), task_name="sst2", output_dir=str(tmp_path / "o"))
    supernet_dir = bo.save_supernet(bo.Convert(bo.supernet(expand_ratio=[0.5])).convert(tiny_model("bert")),
                                    tmp_path / "s")
    ok = dict(supernet=str(supernet_dir), task_name="SST-2", output_dir=str(tmp_path / "o"))
    assert SearchArguments(**ok).task_name == "sst2"
    for bad, message in [({"latency_ms": 0}, "latency_ms must be > 0"), ({"device": "tpu"}, "device must be one of"),
                         ({"task_name": "ax"}, "no training and dev data"), ({"population": 1}, "population >= 2"),
                         ({"algorithm": "random"}, "algorithm must be one of")]:
        with pytest.raises(ValueError, match=message):
            SearchArguments(**(ok | bad))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            SearchArguments(**(ok | {"device": "cuda"}))
