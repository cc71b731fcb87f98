"""Held-out accuracy for the search: scores cached in memory and on disk (keyed by the run), the loss metric,
and the accuracy predictor."""

from __future__ import annotations

import random

import pytest
from tiny_models import HALF_WIDTH, SEARCH_SPACE, convert, tiny_supernet

import bert_ofa as bo
from bert_ofa.search.accuracy import AccuracyScorer, accuracy_features, fit_accuracy_predictor
from glue_tasks.prepare import heldout_batches, task_score_fn


@pytest.fixture
def sst2_batches(tiny_bert, glue_dir):
    model, tokenizer = tiny_bert()  # 2 layers
    convert(model, **HALF_WIDTH, depth=[1])
    return model, heldout_batches("sst2", tokenizer, glue_dir, n_samples=6, seed=0, batch_size=4)


@pytest.fixture
def scored(sst2_batches, tmp_path):
    """A scorer caching into a file, which has scored one subnet: (model, batches, sub, score, calls, cache)."""
    model, batches = sst2_batches
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    scorer = AccuracyScorer(model, batches, task_score_fn("sst2"), cache_file=tmp_path / "scores.json",
                            meta={"run": 1})
    sub = bo.sample_subnet(model, seed=1)
    first = scorer(sub)
    return dict(model=model, batches=batches, sub=sub, first=first, calls=calls, scorer=scorer,
                cache=tmp_path / "scores.json")


def test_heldout_batches_hold_the_samples(sst2_batches):
    _, batches = sst2_batches
    assert sum(len(b["labels"]) for b in batches) == 6 and len(batches) == 2


def test_accuracy_scoring_runs_the_model_once_per_batch(scored):
    assert len(scored["calls"]) == 2 and 0.0 <= scored["first"] <= 1.0


def test_accuracy_scoring_is_cached_in_memory(scored):
    scorer, sub = scored["scorer"], scored["sub"]
    assert scorer(bo.SubnetConfig.from_json(sub.to_json())) == scored["first"] and len(scored["calls"]) == 2  # no model run
    assert scorer.evaluations == 1


def test_accuracy_scoring_leaves_the_supernet_as_it_was(scored):
    model = scored["model"]
    assert bo.get_active_subnet(model) == bo.largest_subnet(model)


def test_accuracy_scores_are_cached_on_disk_per_run(scored):
    model, batches, sub, first, calls = (scored[k] for k in ("model", "batches", "sub", "first", "calls"))
    score_fn = task_score_fn("sst2")
    reloaded = AccuracyScorer(model, batches, score_fn, cache_file=scored["cache"], meta={"run": 1})
    assert reloaded(sub) == first and len(calls) == 2
    other = AccuracyScorer(model, batches, score_fn, cache_file=scored["cache"], meta={"run": 2})
    assert other(sub) == first and len(calls) == 4  # another supernet or slice: scored again


def test_loss_metric_scores_negative(scored):
    assert AccuracyScorer(scored["model"], scored["batches"], task_score_fn("sst2", "loss"))(scored["sub"]) < 0


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="metric must be 'loss' or one of"):
        task_score_fn("sst2", "f1")


@pytest.fixture(scope="module")
def supernet():
    return tiny_supernet("bert", space=SEARCH_SPACE)


def test_accuracy_predictor_ranks_subnets(supernet):
    space, rng = bo.get_search_space(supernet), random.Random(0)
    subnets = [bo.sample_subnet(space, rng) for _ in range(40)]
    scores = [0.5 + 0.3 * accuracy_features(space, s)[4:8].mean() + 0.1 * s.depth + rng.gauss(0, 0.005)
              for s in subnets]
    predictor = fit_accuracy_predictor(space, subnets, scores)
    assert predictor.spearman > 0.9
    assert predictor.predict(bo.largest_subnet(space)) > predictor.predict(bo.smallest_subnet(space))
