"""The tests' one place for tiny models, tokenizers, search spaces, supernets and OFA runs.

Plain functions (no pytest): test files import them, ``conftest.py`` wraps them in fixtures, and the
scripts in ``tests/scripts`` (run under torchrun) import them too. Every model is random and tiny
(hidden 32, 4 heads, 2-4 layers): nothing is downloaded.
"""

from __future__ import annotations

import copy
import string
from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    BertConfig,
    DistilBertConfig,
    ElectraConfig,
    RobertaConfig,
    XLMRobertaConfig,
)

VOCAB = 99
ARCHS = ["bert", "roberta", "xlm-roberta", "electra", "electra-projected", "distilbert"]

# ---- search spaces ----

# the elastic space most tests convert with: widths 1-3 heads (of 4), hidden 16/24 (of 32), depth 2/3 (of 4)
SPACE = dict(expand_ratio=[0.25, 0.5, 0.75], hidden_size=[16, 24], depth=[2, 3])
# the search tests' space: heads 1-4, FFN 9-37, depth 2-4, full hidden
SEARCH_SPACE = dict(num_heads=[1, 2, 3], intermediate_size=[9, 18, 28], depth=[2, 3])
# width 0.5 only: the smallest space (a search over the 2-layer tiny BERT adds depth=[1])
HALF_WIDTH = dict(expand_ratio=[0.5])


# ---- models ----

def tiny_config(arch: str, num_labels: int = 3, attn: str = "sdpa", layers: int = 4):
    common = dict(vocab_size=VOCAB, max_position_embeddings=64, num_labels=num_labels,
                  attn_implementation=attn, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    bert_like = dict(hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=37, **common)
    if arch == "bert":
        return BertConfig(**bert_like)
    if arch == "roberta":
        return RobertaConfig(**bert_like, pad_token_id=1)
    if arch == "xlm-roberta":
        return XLMRobertaConfig(**bert_like, pad_token_id=1)
    if arch == "electra":
        return ElectraConfig(embedding_size=32, **bert_like)
    if arch == "electra-projected":
        return ElectraConfig(embedding_size=16, **bert_like)
    if arch == "distilbert":
        return DistilBertConfig(dim=32, n_layers=layers, n_heads=4, hidden_dim=37, vocab_size=VOCAB,
                                max_position_embeddings=64, num_labels=num_labels, attn_implementation=attn,
                                dropout=0.1, attention_dropout=0.1)
    raise KeyError(arch)


def tiny_model(arch: str, head: str = "cls", seed: int = 0, **kwargs):
    """A random tiny model of ``arch``: with a classification head (``head="cls"``) or bare (``"base"``)."""
    torch.manual_seed(seed)
    config = tiny_config(arch, **kwargs)
    cls = AutoModelForSequenceClassification if head == "cls" else AutoModel
    return cls.from_config(config).eval()


def tiny_mlm_config() -> BertConfig:
    """A 2-layer tiny BERT config for a masked-LM head (a head elastic hidden sizes do not support)."""
    return BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=64)


def tiny_unsupported_model():
    """A tiny GPT-2: a family bert_ofa does not convert."""
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=50))


def convert(model, space: dict | None = None, **choices):
    """``model`` made a supernet in place: ``space`` (default SPACE) or the given choices."""
    import bert_ofa as bo

    return bo.Convert(bo.supernet(**(choices or space or SPACE))).convert(model)


def tiny_supernet(arch: str = "bert", head: str = "cls", space: dict | None = None, **model_kwargs):
    """A tiny model of ``arch`` converted to a supernet over ``space`` (default SPACE)."""
    return convert(tiny_model(arch, head, **model_kwargs), space)


# ---- inputs ----

def tiny_batch(seed: int = 1, batch: int = 3, seq: int = 11):
    """Input ids avoiding the special ids 0-2, with padding on some rows."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[1, seq - 4:] = 0
    mask[2, seq - 7:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def output_tensor(out) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def toy_data(n=48, seq=10, seed=0):
    """Label = whether token 5 appears: learnable by a tiny model."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for i in range(n):
        ids = torch.randint(6, 99, (seq,), generator=g)
        if i % 2:
            ids[int(torch.randint(0, seq, (1,), generator=g))] = 5
        data.append({"input_ids": ids, "attention_mask": torch.ones(seq, dtype=torch.long), "labels": torch.tensor(i % 2)})
    return data


def collate(examples):
    return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}


# ---- OFA runs ----

def make_ofa(run=None, distill=True, space=None, num_labels=2, **distill_kwargs):
    """An OFA run of a tiny BERT supernet over ``space`` (default SPACE) distilled from a copy of itself."""
    from bert_ofa import OFA, DistillConfig, RunConfig

    teacher = tiny_model("bert", num_labels=num_labels)
    student = convert(copy.deepcopy(teacher), space)
    dc = DistillConfig(teacher_model=teacher, **distill_kwargs) if distill else None
    return OFA(student, run or RunConfig(train_batch_size=8, n_epochs=[[1], [2], [3], [4]]), dc)


# ---- tokenizers and models that go with them (GLUE-sized vocabularies) ----

def char_tokenizer():
    """Lower-case WordPiece tokenizer over characters and a few words."""
    from transformers import BertTokenizerFast

    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = "the a is cat dog boy man good bad film fun dull very ran sat what who why".split()
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars),
                                *words]))  # "a" is a char and a word
    # a dict, not vocab_file=: transformers 5 ignores a vocab file here and keeps only the 5 specials
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    assert len(tokenizer) == len(vocab)
    return tokenizer


def word_tokenizer(folder: Path):
    """A whole-word tokenizer over VOCAB ids (a vocab file written into ``folder``), for the tiny models."""
    from transformers import BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "plot", "acting", "great", "dull"]
    vocab = Path(folder) / "vocab.txt"
    vocab.write_text("\n".join(words + [f"w{i}" for i in range(VOCAB - len(words))]) + "\n")
    return BertTokenizerFast(vocab=str(vocab))


def tiny_bert_config(tokenizer, num_labels: int = 2) -> BertConfig:
    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=128, num_labels=num_labels)


def tiny_bert(tokenizer, num_labels: int = 2):
    """A random 2-layer BertForSequenceClassification over ``tokenizer``'s vocabulary."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config(tokenizer, num_labels)).eval()


def save_tiny_bert(path: Path, tokenizer, num_labels: int = 2) -> Path:
    """The tiny BERT and its tokenizer saved with ``save_pretrained``."""
    tiny_bert(tokenizer, num_labels).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def save_tiny_encoder(path: Path, tokenizer) -> Path:
    """A bare (not fine-tuned) tiny BERT encoder and its tokenizer."""
    from transformers import BertModel

    config = tiny_bert(tokenizer).config
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def supernet_output(model, subnet, batch):
    """The supernet's output tensor with ``subnet`` active (the reference an export must reproduce)."""
    import bert_ofa as bo

    with torch.no_grad(), bo.active_subnet(model, subnet):
        return output_tensor(model(**batch))


def assert_same(loaded, model, subnet, batch=None):
    """``loaded`` (an exported model) computes what ``model`` computes with ``subnet`` active, to 1e-5."""
    batch = batch or tiny_batch()
    with torch.no_grad():
        got = output_tensor(loaded(**batch))
    assert (got - supernet_output(model, subnet, batch)).abs().max().item() <= 1e-5
