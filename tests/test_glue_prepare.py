"""glue_tasks.prepare: the rows kept out of training for the search, and the batches built from them."""

from __future__ import annotations

import glue_tasks
import pytest

from glue_tasks.prepare import heldout_batches, split_heldout


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
