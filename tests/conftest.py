"""Shared fixtures: a small GLUE-layout directory, and tiny models and tokenizers (from tiny_models.py;
no hub access). Fixtures named ``shared_*`` are built once per session, for module-scoped setups that only read them."""
from __future__ import annotations

from pathlib import Path

import pytest
import tiny_models

BOM = "\ufeff"
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
MNLI_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
               "sentence1_parse\tsentence2_parse\tsentence1\tsentence2")


def _mnli_row(i: int, s1: str, s2: str, labels: str = "") -> str:
    return f"{i}\t{i}\t{i}e\tfiction\t( {s1} )\t( {s2} )\t(ROOT {s1})\t(ROOT {s2})\t{s1}\t{s2}{labels}\n"


# Relative path -> exact file text, with the quirks of the official GLUE download.
FAKE_GLUE: dict[str, str] = {
    # CoLA train/dev: no header (source, label, original mark, sentence); dev: no final newline.
    "CoLA/train.tsv": "gj04\t1\t\tthe boy ran .\ngj04\t0\t*\tboy the ran .\ngj04\t1\t\ta cat sat .\n",
    "CoLA/dev.tsv": "gj04\t0\t*\tran boy the .\ngj04\t1\t\tthe dog \"barked .",
    "CoLA/test.tsv": "index\tsentence\n0\tthe cat ran .\n1\tcat the .\n",
    "SST-2/train.tsv": "sentence\tlabel\n" + "".join(
        f"{s} \t{l}\n" for s, l in [("a good film", 1), ("a bad film", 0), ("good and fun", 1),
                                    ("bad and dull", 0), ("very good", 1), ("very bad", 0),
                                    ("fun fun fun", 1), ("dull dull", 0)]),
    "SST-2/dev.tsv": "sentence\tlabel\ngood fun \t1\nbad dull \t0\nvery fun \t1\nso bad \t0\n",
    "SST-2/test.tsv": "index\tsentence\n0\tgood\n1\tbad\n2\tfun\n",
    # MRPC train/dev start with a byte-order mark; test has "index" as first column.
    "MRPC/train.tsv": BOM + MRPC_HEADER + "1\t11\t12\the left .\the went away .\n0\t13\t14\tit is red .\tit is \" blue .\n",
    "MRPC/dev.tsv": BOM + MRPC_HEADER + "0\t15\t16\ta b .\tc d .\n1\t17\t18\tx y .\tx y z .\n",
    "MRPC/test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t19\t20\tp q .\tp q .\n",
    "STS-B/train.tsv": f"{STSB_HEADER}\tscore\n0\tmain-news\tf\t2012\t0001\tnone\tnone\ta man runs .\ta man is running .\t4.750\n"
                       "1\tmain-news\tf\t2012\t0002\tnone\tnone\ta cat .\ta car .\t0.000\n",
    "STS-B/dev.tsv": f"{STSB_HEADER}\tscore\n0\tmain-news\tf\t2012\t0003\tnone\tnone\tdogs run .\ta dog runs .\t3.800\n"
                     "1\tmain-news\tf\t2012\t0004\tnone\tnone\tsun .\tmoon .\t0.500\n",
    "STS-B/test.tsv": f"{STSB_HEADER}\n0\tmain-news\tf\t2012\t0005\tnone\tnone\tred .\tblue .\n",
    # QQP: the question "what is" broken over two lines -> two malformed lines (4 and 3 fields).
    "QQP/train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                     "0\t1\t2\twhat is a cat ?\twhat is a cat ?\t1\n"
                     "1\t3\t4\twhat is\n"
                     "a dog ?\twhat is a car ?\t0\n"
                     "2\t5\t6\twhy \" so ?\thow so ?\t0\n",
    "QQP/dev.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t8\t9\thow ?\twhy ?\t0\n",
    "QQP/test.tsv": "id\tquestion1\tquestion2\n0\twho ?\twho is it ?\n",
    "MNLI/train.tsv": f"{MNLI_HEADER}\tlabel1\tgold_label\n"
                      + _mnli_row(0, "a man sleeps .", "a man is awake .", "\tcontradiction\tcontradiction")
                      + _mnli_row(1, "a man sleeps .", "a person sleeps .", "\tentailment\tentailment"),
    "MNLI/dev_matched.tsv": f"{MNLI_HEADER}\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
                            + _mnli_row(2, "it rains .", "it is wet .", "\tneutral" * 5 + "\tneutral"),
    "MNLI/dev_mismatched.tsv": f"{MNLI_HEADER}\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
                               + _mnli_row(3, "he sings .", "he is silent .", "\tcontradiction" * 5 + "\tcontradiction")
                               + _mnli_row(4, "he sings .", "he makes sound .", "\tentailment" * 5 + "\tentailment"),
    "MNLI/test_matched.tsv": f"{MNLI_HEADER}\n" + _mnli_row(0, "a b .", "c d ."),
    "MNLI/test_mismatched.tsv": f"{MNLI_HEADER}\n" + _mnli_row(0, "e f .", "g h .") + _mnli_row(1, "i .", "j ."),
    "QNLI/train.tsv": "index\tquestion\tsentence\tlabel\n0\twho ran ?\tthe boy ran .\tentailment\n"
                      "1\twho sat ?\tthe sun is hot .\tnot_entailment\n",
    "QNLI/dev.tsv": "index\tquestion\tsentence\tlabel\n0\twhat is red ?\tthe sky is blue .\tnot_entailment\n",
    "QNLI/test.tsv": "index\tquestion\tsentence\n0\twhy ?\tbecause .\n",
    "RTE/train.tsv": "index\tsentence1\tsentence2\tlabel\n0\ta cat sat .\ta cat is there .\tentailment\n"
                     "1\ta dog ran .\tno dog .\tnot_entailment\n",
    "RTE/dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tit rained .\tit is dry .\tnot_entailment\n"
                   "1\tit rained .\tthere was rain .\tentailment\n",
    "RTE/test.tsv": "index\tsentence1\tsentence2\n0\tx .\ty .\n",
    "WNLI/train.tsv": "index\tsentence1\tsentence2\tlabel\n0\tthe cup fell . it broke .\tthe cup broke .\t1\n"
                      "1\tthe cup fell . it broke .\tthe floor broke .\t0\n",
    "WNLI/dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tjo met al . he smiled .\tal smiled .\t0\n",
    "WNLI/test.tsv": "index\tsentence1\tsentence2\n0\tjo sat . she ate .\tjo ate .\n",
    "diagnostic/AX.tsv": "index\tsentence1\tsentence2\n0\tthe cat sat .\tthe cat did not sit .\n1\ta b .\tb a .",
}


def write_fake_glue(root: Path) -> Path:
    for rel, text in FAKE_GLUE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return root


@pytest.fixture
def glue_dir(tmp_path: Path) -> Path:
    """A small GLUE directory in the official layout (all tasks, with their quirks)."""
    return write_fake_glue(tmp_path / "glue_data")


@pytest.fixture(scope="session")
def shared_glue_dir(tmp_path_factory) -> Path:
    """The GLUE directory of ``glue_dir``, once per session: for module-scoped runs that only read it."""
    return write_fake_glue(tmp_path_factory.mktemp("shared") / "glue_data")


@pytest.fixture
def tiny_tokenizer():
    """Lower-case WordPiece tokenizer over characters and a few words."""
    return tiny_models.char_tokenizer()


@pytest.fixture
def word_tokenizer(tmp_path: Path):
    """A whole-word tokenizer over the tiny models' vocabulary (its vocab file in ``tmp_path``)."""
    return tiny_models.word_tokenizer(tmp_path)


@pytest.fixture
def tiny_bert(tiny_tokenizer):
    """Factory: ``tiny_bert(num_labels=2)`` -> (random BertForSequenceClassification, tokenizer)."""
    return lambda num_labels=2: (tiny_models.tiny_bert(tiny_tokenizer, num_labels), tiny_tokenizer)


@pytest.fixture
def tiny_bert_dir(tiny_tokenizer, tmp_path: Path) -> Path:
    """The tiny 2-label BERT and its tokenizer saved with ``save_pretrained``."""
    return tiny_models.save_tiny_bert(tmp_path / "tiny-bert", tiny_tokenizer)


@pytest.fixture(scope="session")
def shared_tiny_bert_dir(tmp_path_factory) -> Path:
    """``tiny_bert_dir`` once per session, for module-scoped runs that only read it."""
    return tiny_models.save_tiny_bert(tmp_path_factory.mktemp("shared") / "tiny-bert", tiny_models.char_tokenizer())


@pytest.fixture
def tiny_encoder_dir(tiny_tokenizer, tmp_path: Path) -> Path:
    """A bare (not fine-tuned) tiny BERT encoder and its tokenizer."""
    return tiny_models.save_tiny_encoder(tmp_path / "encoder", tiny_tokenizer)


@pytest.fixture(scope="session")
def shared_tiny_encoder_dir(tmp_path_factory) -> Path:
    """``tiny_encoder_dir`` once per session, for module-scoped runs that only read it."""
    return tiny_models.save_tiny_encoder(tmp_path_factory.mktemp("shared") / "encoder", tiny_models.char_tokenizer())
