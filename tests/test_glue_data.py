"""GLUE task table, local reader (fake and real GLUE directories) and tokenization."""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import datasets
import pytest

from glue_tasks import TASKS, GlueUnavailableError, get_task, load_glue, tokenize_glue

REAL_GLUE = os.environ.get("GLUE_DIR")
needs_real_glue = pytest.mark.skipif(not REAL_GLUE or not Path(REAL_GLUE).is_dir(), reason="GLUE_DIR not set")

# task -> (hub columns, {split: (first row's inputs, labels of all rows)}) for the fixture files.
EXPECTED = {
    "cola": (["sentence"], {"train": (["the boy ran ."], [1, 0, 1]),
                            "validation": (["ran boy the ."], [0, 1]), "test": (["the cat ran ."], [-1, -1])}),
    "sst2": (["sentence"], {"train": (["a good film "], [1, 0, 1, 0, 1, 0, 1, 0]),
                            "validation": (["good fun "], [1, 0, 1, 0]), "test": (["good"], [-1] * 3)}),
    "mrpc": (["sentence1", "sentence2"], {"train": (["he left .", "he went away ."], [1, 0]),
                                          "validation": (["a b .", "c d ."], [0, 1]),
                                          "test": (["p q .", "p q ."], [-1])}),
    "stsb": (["sentence1", "sentence2"], {"train": (["a man runs .", "a man is running ."], [4.75, 0.0]),
                                          "validation": (["dogs run .", "a dog runs ."], [3.8, 0.5]),
                                          "test": (["red .", "blue ."], [-1.0])}),
    "qqp": (["question1", "question2"], {"train": (["what is a cat ?", "what is a cat ?"], [1, 0]),
                                         "validation": (["how ?", "why ?"], [0]),
                                         "test": (["who ?", "who is it ?"], [-1])}),
    "mnli": (["premise", "hypothesis"], {"train": (["a man sleeps .", "a man is awake ."], [2, 0]),
                                         "validation_matched": (["it rains .", "it is wet ."], [1]),
                                         "validation_mismatched": (["he sings .", "he is silent ."], [2, 0]),
                                         "test_matched": (["a b .", "c d ."], [-1]),
                                         "test_mismatched": (["e f .", "g h ."], [-1, -1])}),
    "qnli": (["question", "sentence"], {"train": (["who ran ?", "the boy ran ."], [0, 1]),
                                        "validation": (["what is red ?", "the sky is blue ."], [1]),
                                        "test": (["why ?", "because ."], [-1])}),
    "rte": (["sentence1", "sentence2"], {"train": (["a cat sat .", "a cat is there ."], [0, 1]),
                                         "validation": (["it rained .", "it is dry ."], [1, 0]),
                                         "test": (["x .", "y ."], [-1])}),
    "wnli": (["sentence1", "sentence2"], {"train": (["the cup fell . it broke .", "the cup broke ."], [1, 0]),
                                          "validation": (["jo met al . he smiled .", "al smiled ."], [0]),
                                          "test": (["jo sat . she ate .", "jo ate ."], [-1])}),
    "ax": (["premise", "hypothesis"], {"test": (["the cat sat .", "the cat did not sit ."], [-1, -1])}),
}


def test_task_table():
    assert list(TASKS) == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", "ax"]
    assert get_task("CoLA") is get_task("cola") is TASKS["cola"]
    assert get_task("SST-2") is get_task("sst-2") is get_task("sst2")
    assert get_task("STS-B").is_regression and get_task("sts-b").num_labels == 1
    assert get_task("mnli").eval_splits == ("validation_matched", "validation_mismatched")
    assert get_task("mnli").submission_files == ("MNLI-m.tsv", "MNLI-mm.tsv")
    assert get_task("ax").dir_name == "diagnostic" and get_task("ax").splits == ("test",)
    assert get_task("rte").label2id == {"entailment": 0, "not_entailment": 1}
    assert get_task("wnli").label_names == ("not_entailment", "entailment")
    assert get_task("mrpc").metric_names == ("f1", "accuracy")


def test_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match="Valid tasks: .*CoLA.*SST-2.*WNLI") as err:
        get_task("mnli-mm")
    assert "'mnli-mm'" in str(err.value)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_task_loads_like_the_hub(glue_dir, name):
    columns, splits = EXPECTED[name]
    task = get_task(name)
    dsd = load_glue(name, glue_dir)
    assert list(dsd) == list(splits) == list(task.splits)
    for split, (first_inputs, labels) in splits.items():
        ds = dsd[split]
        assert ds.column_names == columns + ["label", "idx"]
        assert [ds[0][c] for c in columns] == first_inputs
        assert ds["label"] == pytest.approx(labels)
        assert ds["idx"] == list(range(len(labels)))
        label_feature = ds.features["label"]
        if task.is_regression:
            assert label_feature == datasets.Value("float32")
        else:
            assert isinstance(label_feature, datasets.ClassLabel)
            assert label_feature.names == list(task.label_names)
        assert ds.features["idx"] == datasets.Value("int32")


def test_quotes_are_kept_verbatim(glue_dir):
    assert load_glue("cola", glue_dir)["validation"][1]["sentence"] == 'the dog "barked .'
    assert load_glue("mrpc", glue_dir)["train"][1]["sentence2"] == 'it is " blue .'


def test_qqp_malformed_lines_skipped_with_warning(glue_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="glue_tasks"):
        train = load_glue("qqp", glue_dir, splits=["train"])["train"]
    assert train["question1"] == ["what is a cat ?", 'why " so ?']
    assert train["label"] == [1, 0]
    assert "skipped 2 malformed line(s)" in caplog.text and "[3, 4]" in caplog.text


def test_glue_dir_from_env_and_split_selection(glue_dir, monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(glue_dir))
    dsd = load_glue("RTE", splits=["validation"])
    assert list(dsd) == ["validation"] and dsd["validation"].num_rows == 2
    with pytest.raises(ValueError, match="no split"):
        load_glue("rte", splits=["dev"])


def test_missing_file_names_path(glue_dir):
    (glue_dir / "RTE" / "train.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=r"RTE/train\.tsv.*download_glue_data\.py.*unset GLUE_DIR"):
        load_glue("rte", glue_dir, splits=["train"])
    assert list(load_glue("rte", glue_dir)) == ["validation", "test"]  # default: the splits present
    with pytest.raises(FileNotFoundError, match="GLUE directory not found"):
        load_glue("rte", glue_dir / "nowhere")


def test_bad_label_names_file_line_and_value(glue_dir):
    path = glue_dir / "RTE" / "dev.tsv"
    path.write_text(path.read_text().replace("\tentailment\n", "\tentailed\n"))
    with pytest.raises(ValueError, match=r"RTE/dev\.tsv:3: bad RTE label 'entailed'"):
        load_glue("rte", glue_dir)
    path = glue_dir / "SST-2" / "dev.tsv"
    path.write_text(path.read_text().replace("so bad \t0", "so bad \t2"))
    with pytest.raises(ValueError, match=r"SST-2/dev\.tsv:5: bad SST-2 label '2'"):
        load_glue("sst2", glue_dir)


def test_hub_fallback_fails_clearly_offline(monkeypatch):
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(GlueUnavailableError, match="Set GLUE_DIR .*glue_dir"):
        load_glue("rte")


def test_tokenize_pairs_and_singles_without_padding(glue_dir, tiny_tokenizer):
    for name in ("mnli", "sst2"):
        tok = tokenize_glue(load_glue(name, glue_dir), tiny_tokenizer, name, max_seq_length=12)
        for ds in tok.values():
            assert set(ds.column_names) == {"input_ids", "token_type_ids", "attention_mask", "label", "idx"}
            lengths = [len(x) for x in ds["input_ids"]]
            assert max(lengths) <= 12
            assert all(m == [1] * n for m, n in zip(ds["attention_mask"], lengths))  # no padding
    pair = tokenize_glue(load_glue("rte", glue_dir)["train"], tiny_tokenizer, "rte")[0]
    assert pair["input_ids"].count(tiny_tokenizer.sep_token_id) == 2 and 1 in pair["token_type_ids"]


# ---- the real GLUE files (GLUE_DIR), official row counts and label counts ----

REAL_COUNTS = {  # task -> {split: (rows, {label id: count})}; counts checked against the files
    "cola": {"train": (8551, {0: 2528, 1: 6023}), "validation": (1043, {0: 322, 1: 721}), "test": (1063, None)},
    "sst2": {"train": (67349, {0: 29780, 1: 37569}), "validation": (872, {0: 428, 1: 444}), "test": (1821, None)},
    "mrpc": {"train": (3668, {0: 1194, 1: 2474}), "validation": (408, {0: 129, 1: 279}), "test": (1725, None)},
    "stsb": {"train": (5749, None), "validation": (1500, None), "test": (1379, None)},
    "rte": {"train": (2490, {0: 1249, 1: 1241}), "validation": (277, {0: 146, 1: 131}), "test": (3000, None)},
    "wnli": {"train": (635, {0: 323, 1: 312}), "validation": (71, {0: 40, 1: 31}), "test": (146, None)},
    "qnli": {"validation": (5463, {0: 2702, 1: 2761}), "test": (5463, None)},
    "ax": {"test": (1104, None)},
}


@needs_real_glue
@pytest.mark.slow
@pytest.mark.parametrize("name", list(REAL_COUNTS))
def test_real_glue_row_and_label_counts(name):
    task = get_task(name)
    if not (Path(REAL_GLUE) / task.dir_name).is_dir():
        pytest.skip(f"{task.name} not in GLUE_DIR")
    dsd = load_glue(name, REAL_GLUE, splits=list(REAL_COUNTS[name]))
    for split in REAL_COUNTS[name]:
        rows, counts = REAL_COUNTS[name][split]
        labels = dsd[split]["label"]
        assert len(labels) == rows, split
        if split.startswith("test"):
            assert set(labels) == {-1}
        elif task.is_regression:
            assert 0.0 <= min(labels) and max(labels) == 5.0
        else:
            assert dict(Counter(labels)) == counts, split


@needs_real_glue
def test_real_stsb_scores():
    dev = load_glue("stsb", REAL_GLUE, splits=["validation"])["validation"]
    assert dev[0]["sentence1"] == "A man with a hard hat is dancing." and dev[0]["label"] == 5.0
    assert sum(dev["label"]) == pytest.approx(3545.861, abs=1e-2)
