"""Sentence-order augmentation (swap_pairs): which tasks allow it, the per-epoch draw, wiring."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from bert_ofa import OFATrainingArguments, RunConfig, train_ofa
from glue_tasks.prepare import GlueDataArguments, training_rows
from glue_tasks import load_glue, tokenize_glue
from glue_tasks.augment import SwappedPairs, check_swappable, swap_pair_columns


@pytest.mark.parametrize("task", ["mrpc", "stsb", "qqp"])
def test_symmetric_tasks_accept_swaps(task):
    assert GlueDataArguments(task, swap_pairs=0.5).swap_pairs == 0.5


@pytest.mark.parametrize("task, match", [(t, "depends on the order of its inputs.*MRPC, STS-B, QQP")
                                         for t in ("rte", "mnli", "qnli", "wnli")]
                         + [(t, "one sentence per example") for t in ("sst2", "cola")])
def test_other_tasks_refuse_swaps(task, match):
    with pytest.raises(ValueError, match=match):
        GlueDataArguments(task, swap_pairs=0.5)
    assert GlueDataArguments(task).swap_pairs == 0.0  # off by default: nothing to refuse


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_swap_pairs_is_a_probability(p):
    with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
        GlueDataArguments("mrpc", swap_pairs=p)


def test_swap_pair_columns_exchanges_the_sentences_only(glue_dir):
    raw = load_glue("mrpc", str(glue_dir), splits=["train"])["train"]
    swapped = swap_pair_columns(raw, "mrpc")
    assert swapped.column_names == raw.column_names and swapped.features == raw.features
    assert swapped["sentence1"] == raw["sentence2"] and swapped["sentence2"] == raw["sentence1"]
    assert swapped["label"] == raw["label"] and swapped["idx"] == raw["idx"]
    with pytest.raises(ValueError, match="RTE"):
        check_swappable("rte")


def _rows(n):
    return datasets.Dataset.from_dict({"x": list(range(n))}), datasets.Dataset.from_dict({"x": [-i for i in range(n)]})


def test_swapped_pairs_draws_per_epoch_from_the_seed():
    plain, swapped = _rows(400)
    view = SwappedPairs(plain, swapped, prob=0.5, seed=3)
    first = [view[i]["x"] for i in range(400)]
    assert all(v == i or v == -i for i, v in enumerate(first))
    assert 150 < sum(v < 0 for v in first) < 250  # about half swapped
    again = SwappedPairs(plain, swapped, prob=0.5, seed=3)
    assert [again[i]["x"] for i in range(400)] == first  # reproducible (resume, every rank)
    view.set_epoch(1)
    assert not np.array_equal(view.is_swapped, again.is_swapped)  # re-drawn each epoch
    view.set_epoch(0)
    assert np.array_equal(view.is_swapped, again.is_swapped)
    assert not np.array_equal(SwappedPairs(plain, swapped, 0.5, seed=4).is_swapped, again.is_swapped)
    assert [SwappedPairs(plain, swapped, 0.0)[i]["x"] for i in range(5)] == [0, 1, 2, 3, 4]
    assert [SwappedPairs(plain, swapped, 1.0)[i]["x"] for i in range(5)] == [0, -1, -2, -3, -4]


def test_swapped_pairs_errors_and_select():
    plain, swapped = _rows(6)
    with pytest.raises(ValueError, match="differ in length"):
        SwappedPairs(plain, swapped.select(range(5)))
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\]"):
        SwappedPairs(plain, swapped, prob=2.0)
    sub = SwappedPairs(plain, swapped, 1.0).select([1, 4])
    assert len(sub) == 2 and [sub[0]["x"], sub[1]["x"]] == [-1, -4]


def test_training_rows_tokenizes_the_other_order(glue_dir, tiny_tokenizer):
    args = GlueDataArguments("mrpc", str(glue_dir), max_seq_length=32, swap_pairs=1.0)
    raw = load_glue("mrpc", str(glue_dir), splits=["train"])
    data = tokenize_glue(raw, tiny_tokenizer, "mrpc", 32)
    keep = ["input_ids", "token_type_ids", "attention_mask", "label"]
    rows = training_rows(raw["train"], data["train"], tiny_tokenizer, args, seed=0, columns=keep, drop={0})
    assert isinstance(rows, SwappedPairs) and len(rows) == 1 and sorted(rows[0]) == sorted(keep)
    s1, s2, label = raw["train"][1]["sentence1"], raw["train"][1]["sentence2"], raw["train"][1]["label"]
    assert rows[0]["input_ids"] == tiny_tokenizer(s2, s1)["input_ids"] != tiny_tokenizer(s1, s2)["input_ids"]
    assert rows[0]["label"] == label
    off = training_rows(raw["train"], data["train"], tiny_tokenizer, GlueDataArguments("mrpc", max_seq_length=32),
                        seed=0, columns=keep, drop={0})
    assert isinstance(off, datasets.Dataset) and off[0]["input_ids"] == tiny_tokenizer(s1, s2)["input_ids"]


class _EpochLog(list):
    """A dataset that records the epochs it is told about, as SwappedPairs is."""

    def __init__(self, data):
        super().__init__(data)
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_trainer_tells_the_dataset_each_epoch(tmp_path):
    from tiny_models import collate, make_ofa, toy_data

    data = _EpochLog(toy_data(16))
    ofa = make_ofa(RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]]))
    train_ofa(ofa, data, collate, OFATrainingArguments(output_dir=str(tmp_path), disable_tqdm=True))
    assert data.epochs == [0, 1, 2, 3]


def test_finetune_with_swapped_pairs(tiny_bert_dir, glue_dir, tmp_path):
    from glue_tasks.finetune import FinetuneArguments, finetune

    out = finetune(FinetuneArguments(str(tiny_bert_dir), str(tmp_path / "ft"), num_train_epochs=2,
                                     per_device_train_batch_size=1),
                   GlueDataArguments("mrpc", str(glue_dir), max_seq_length=32, swap_pairs=1.0))
    assert out["train_samples"] == 2 and out["train_steps"] == 4 and "eval_f1" in out
