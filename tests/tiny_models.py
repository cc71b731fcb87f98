"""Tiny random models of every supported family (hidden 32, 4 heads, 2-4 layers) for tests."""

from __future__ import annotations

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


ARCHS = ["bert", "roberta", "xlm-roberta", "electra", "electra-projected", "distilbert"]


def tiny_model(arch: str, head: str = "cls", seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    config = tiny_config(arch, **kwargs)
    cls = AutoModelForSequenceClassification if head == "cls" else AutoModel
    return cls.from_config(config).eval()


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
