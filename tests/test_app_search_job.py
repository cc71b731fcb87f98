"""``run_search`` end to end on a tiny supernet (bert-ofa search): the chosen subnet, pareto.json, the plot,
held-out rows, the predictor variant, infeasible budgets; and SearchArguments' checks."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import tiny_models
from tiny_models import HALF_WIDTH, convert, tiny_model

import bert_ofa as bo
from bert_ofa.app.search_job import SearchArguments, run_search
from bert_ofa.search.algorithms import InfeasibleConstraintError
from bert_ofa.search.latency import build_latency_model
from glue_tasks.prepare import save_heldout


@pytest.fixture(scope="module")
def searched(shared_glue_dir, tmp_path_factory):
    """A saved supernet with held-out rows, its latency model, and one NSGA-II search under a latency budget."""
    tmp_path = tmp_path_factory.mktemp("search")
    tokenizer = tiny_models.char_tokenizer()
    model = convert(tiny_models.tiny_bert(tokenizer), **HALF_WIDTH, depth=[1])
    bo.save_supernet(model, tmp_path / "supernet", tokenizer)
    cache = tmp_path / "latency"
    common = dict(supernet=tmp_path / "supernet", task_name="sst2", glue_dir=str(shared_glue_dir), threads=1,
                  seq_len=32, latency_samples=6, latency_cache_dir=str(cache), heldout_samples=8, population=6,
                  generations=2)
    lat = build_latency_model(bo.load_supernet(tmp_path / "supernet"), 1, 32, 6, threads=1, cache_dir=cache,
                              progress=False)
    space = bo.get_search_space(model)
    budget = (lat.predict(bo.largest_subnet(space)) + lat.predict(bo.smallest_subnet(space))) / 2
    save_heldout(tmp_path / "supernet", "sst2", [0, 2, 4, 6, 7], 8)  # as run_glue_ofa keeps rows out
    result = run_search(SearchArguments(output_dir=str(tmp_path / "out"), latency_ms=budget, **common))
    out = tmp_path / "out"
    return dict(tmp=tmp_path, common=common, lat=lat, space=space, budget=budget, result=result, out=out,
                chosen=bo.SubnetConfig.from_json(out / "subnet.json").validate(space),
                pareto=json.loads((out / "pareto.json").read_text()))


def _copy_supernet(searched, tmp_path):
    """The search's arguments on a copy of its supernet folder (for tests that change the folder)."""
    shutil.copytree(searched["tmp"] / "supernet", tmp_path / "supernet")
    return searched["common"] | {"supernet": tmp_path / "supernet"}


def test_search_reuses_the_cached_latency_model(searched):
    assert searched["pareto"]["latency_model"]["cache_file"] == searched["lat"].cache_file  # not measured again


def test_front_meets_the_latency_budget_and_holds_the_choice(searched):
    pareto = searched["pareto"]
    assert pareto["front"] and all(r["latency_ms_predicted"] <= searched["budget"] for r in pareto["front"])
    assert searched["chosen"].to_dict() in [r["subnet"] for r in pareto["front"]]


def test_front_rows_are_measured_and_scored(searched):
    row = searched["pareto"]["front"][0]
    assert {"latency_ms_measured", "params", "flops", "heldout_score"} <= set(row) and row["latency_ms_measured"] > 0


def test_reference_subnets_are_listed_once(searched):
    names = [r["name"] for r in searched["pareto"]["references"]]  # width 0.5 x depth 0.5 is the smallest here
    assert names == ["largest", "smallest", "width 1.0 x depth 0.5", "width 0.5 x depth 1.0"]


def test_chosen_subnet_is_scored_on_dev(searched):
    pareto, result = searched["pareto"], searched["result"]
    assert "eval_accuracy" in pareto["chosen"]["dev_metrics"]
    assert result["dev_metrics"] == pareto["chosen"]["dev_metrics"] and result["subnet"] == searched["chosen"].to_dict()


def test_search_writes_the_plot_and_the_scores(searched):
    assert (searched["out"] / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (searched["out"] / "heldout_scores.json").is_file()


def test_search_scores_on_the_rows_kept_out_of_training(searched):
    assert searched["pareto"]["heldout"] == {"source": "kept out of OFA training", "samples": 5}


def test_search_reports_the_latency_models_error_on_the_front(searched):
    lm = searched["pareto"]["latency_model"]
    assert lm["front_mape_percent"] >= 0 and lm["front_mape_rescaled_percent"] >= 0 and lm["speed_drift"] > 0


def test_evolution_on_the_predictor_without_heldout_rows_uses_a_training_slice(searched, tmp_path):
    # aging evolution on the accuracy predictor, no latency budget; without heldout.json, a training slice
    common = _copy_supernet(searched, tmp_path)
    (tmp_path / "supernet" / "heldout.json").unlink()
    run_search(SearchArguments(output_dir=str(tmp_path / "out2"), algorithm="evolution", use_predictor=True,
                               predictor_samples=8, **common))
    pareto2 = json.loads((tmp_path / "out2" / "pareto.json").read_text())
    assert pareto2["predictor_spearman"] is not None and pareto2["heldout"]["samples"] == 8
    assert pareto2["heldout"]["source"].startswith("training slice")
    assert bo.SubnetConfig.from_json(tmp_path / "out2" / "subnet.json").validate(searched["space"])


def test_heldout_rows_of_another_task_are_refused(searched, tmp_path):
    common = _copy_supernet(searched, tmp_path)
    save_heldout(tmp_path / "supernet", "mrpc", [0], 8)
    with pytest.raises(ValueError, match="held-out rows are from mrpc, not sst2"):
        run_search(SearchArguments(output_dir=str(tmp_path / "out3"), **common))


def test_an_unreachable_latency_budget_names_the_least_latency(searched, tmp_path):
    smallest = searched["lat"].predict(bo.smallest_subnet(searched["space"]))
    with pytest.raises(InfeasibleConstraintError, match=f"latency_ms=0.001 cannot be met.*{smallest:g} ms"):
        run_search(SearchArguments(output_dir=str(tmp_path / "out3"), latency_ms=0.001, **searched["common"]))


def test_an_unreachable_params_budget_is_refused(searched, tmp_path):
    with pytest.raises(InfeasibleConstraintError, match="max_params=10 cannot be met"):
        run_search(SearchArguments(output_dir=str(tmp_path / "out3"), max_params=10, **searched["common"]))


def test_search_arguments_need_a_supernet_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a supernet directory"):
        SearchArguments(supernet=str(tmp_path), task_name="sst2", output_dir=str(tmp_path / "o"))


@pytest.fixture
def search_args(tmp_path):
    supernet_dir = bo.save_supernet(convert(tiny_model("bert"), **HALF_WIDTH), tmp_path / "s")
    return dict(supernet=str(supernet_dir), task_name="SST-2", output_dir=str(tmp_path / "o"))


def test_search_arguments_normalise_the_task_name(search_args):
    assert SearchArguments(**search_args).task_name == "sst2"


@pytest.mark.parametrize("bad, message", [
    ({"latency_ms": 0}, "latency_ms must be > 0"), ({"device": "tpu"}, "device must be one of"),
    ({"task_name": "ax"}, "no training and dev data"), ({"population": 1}, "population >= 2"),
    ({"algorithm": "random"}, "algorithm must be one of")])
def test_search_arguments_validation(search_args, bad, message):
    with pytest.raises(ValueError, match=message):
        SearchArguments(**(search_args | bad))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_search_arguments_refuse_cuda_without_a_device(search_args):
    with pytest.raises(ValueError, match="no CUDA device"):
        SearchArguments(**(search_args | {"device": "cuda"}))
