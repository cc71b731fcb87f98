"""The latency model: measured once per key and cached, monotone features, step features for non-linear costs."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from tiny_models import SEARCH_SPACE, tiny_supernet

import bert_ofa as bo
from bert_ofa.core.sampling import corner_subnets, spread_subnets
from bert_ofa.search.latency import (FEATURES, LatencyModel, build_latency_model, cache_path, feature_names,
                                     fit_coefficients, latency_features, latency_key, measure_latency, space_choices)


@pytest.fixture(scope="module")
def supernet():
    return tiny_supernet("bert", space=SEARCH_SPACE)


def build(supernet, cache_dir, **kw):
    args = dict(batch_size=1, seq_len=16, n_samples=6, threads=1, cache_dir=cache_dir, progress=False, warmup=1,
                repeats=3) | kw
    return build_latency_model(supernet, **args)


@pytest.fixture(scope="module")
def measured(supernet, tmp_path_factory):
    """A latency model measured into an empty cache: (model, cache folder)."""
    cache = tmp_path_factory.mktemp("latency")
    return build(supernet, cache), cache


def test_latency_model_is_measured_and_written(measured):
    first, _ = measured
    assert not first.from_cache and first.cache_file and len(first.measurements) == 6 + 4
    assert first.mape >= 0 and json.loads(open(first.cache_file).read())["mape"] == first.mape


def test_latency_model_of_the_same_key_is_loaded(supernet, measured):
    first, cache = measured
    again = build(supernet, cache)
    assert again.from_cache and again == first  # same key: loaded, not measured


def test_latency_predictions_are_positive_and_ordered(supernet, measured):
    first, _ = measured
    largest, smallest = bo.largest_subnet(supernet), bo.smallest_subnet(supernet)
    assert first.predict(largest) > first.predict(smallest) > 0
    assert all(first.predict(bo.sample_subnet(supernet, i)) > 0 for i in range(10))
    assert all(c >= 0 for c in first.coef)


def test_measure_latency_of_one_subnet(supernet):
    assert measure_latency(supernet, bo.smallest_subnet(supernet), seq_len=16, threads=1, warmup=1, repeats=3) > 0


def test_latency_model_is_rebuilt_when_the_key_changes(supernet, measured, tmp_path, monkeypatch):
    first, cache = measured
    tmp_path = shutil.copytree(cache, tmp_path / "cache")  # a copy: this test adds and replaces files
    assert not build(supernet, tmp_path, batch_size=2).from_cache
    # threads are part of the key too (not measured here: 2 threads would fight the machine's other jobs)
    assert cache_path(tmp_path, latency_key(supernet, 1, 16, threads=2)) != cache_path(tmp_path, first.key)
    assert not build(supernet, tmp_path, n_samples=8).from_cache  # more samples asked than cached
    monkeypatch.setattr("bert_ofa.search.latency.device_name", lambda device: "another CPU")
    other = build(supernet, tmp_path)
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
