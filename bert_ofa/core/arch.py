"""Architecture knowledge as a table: which submodules are elastic, per model family.

A slot names a submodule path and the roles of its input/output sizes:
``hidden`` (the subnet's hidden size), ``heads`` (active heads x head_dim of the layer),
``ffn`` (the layer's FFN width), ``emb`` (embedding width: ``hidden`` unless the model
projects embeddings, as small ELECTRAs do) or ``None`` (never sliced).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slot:
    path: str
    kind: str  # "linear" | "layernorm" | "embedding"
    in_role: str | None = None
    out_role: str | None = None
    per_token: bool = True  # False for heads that see one vector per sequence (FLOP counts)


def _lin(path: str, i: str | None, o: str | None, per_token: bool = True) -> Slot:
    return Slot(path, "linear", i, o, per_token)


def _ln(path: str, role: str = "hidden") -> Slot:
    return Slot(path, "layernorm", None, role)


def _emb(path: str) -> Slot:
    return Slot(path, "embedding", None, "emb")


@dataclass(frozen=True)
class ArchSpec:
    """Submodule paths of one model family (paths relative to the base model, heads to the top model)."""

    family: str
    model_types: tuple[str, ...]
    embeddings: tuple[Slot, ...]
    layer: tuple[Slot, ...]  # relative to one encoder layer
    layers: str = "encoder.layer"
    attention: str = "attention.self"  # relative to a layer; owns the head-count attributes
    optional: tuple[Slot, ...] = ()  # base-model modules that may be absent (pooler, projection)
    heads: dict[str, tuple[Slot, ...]] = field(default_factory=dict)  # class-name suffix -> slots
    config_fields: dict[str, str] = field(
        default_factory=lambda: {
            "hidden": "hidden_size", "heads": "num_attention_heads",
            "ffn": "intermediate_size", "layers": "num_hidden_layers",
        }
    )
    head_attrs: tuple[str, ...] = ("num_attention_heads",)  # attention attrs holding the head count
    head_size_attrs: tuple[str, ...] = ("all_head_size",)  # attention attrs holding heads x head_dim


_BERT_LAYER = (
    _lin("attention.self.query", "hidden", "heads"),
    _lin("attention.self.key", "hidden", "heads"),
    _lin("attention.self.value", "hidden", "heads"),
    _lin("attention.output.dense", "heads", "hidden"),
    _ln("attention.output.LayerNorm"),
    _lin("intermediate.dense", "hidden", "ffn"),
    _lin("output.dense", "ffn", "hidden"),
    _ln("output.LayerNorm"),
)
_BERT_EMBEDDINGS = (
    _emb("embeddings.word_embeddings"),
    _emb("embeddings.position_embeddings"),
    _emb("embeddings.token_type_embeddings"),
    _ln("embeddings.LayerNorm", "emb"),
)
_TOKEN_HEADS = {
    "ForTokenClassification": (_lin("classifier", "hidden", None),),
    "ForQuestionAnswering": (_lin("qa_outputs", "hidden", None),),
}
_ROBERTA_HEADS = {
    "ForSequenceClassification": (
        _lin("classifier.dense", "hidden", "hidden", per_token=False),
        _lin("classifier.out_proj", "hidden", None, per_token=False),
    ),
    **_TOKEN_HEADS,
}

ARCHS: tuple[ArchSpec, ...] = (
    ArchSpec(
        family="bert",
        model_types=("bert",),
        embeddings=_BERT_EMBEDDINGS,
        layer=_BERT_LAYER,
        optional=(_lin("pooler.dense", "hidden", "hidden", per_token=False),),
        heads={
            "ForSequenceClassification": (_lin("classifier", "hidden", None, per_token=False),),
            "ForMultipleChoice": (_lin("classifier", "hidden", None, per_token=False),),
            **_TOKEN_HEADS,
        },
    ),
    ArchSpec(
        family="roberta",
        model_types=("roberta", "xlm-roberta"),
        embeddings=_BERT_EMBEDDINGS,
        layer=_BERT_LAYER,
        optional=(_lin("pooler.dense", "hidden", "hidden", per_token=False),),
        heads=_ROBERTA_HEADS,
    ),
    ArchSpec(
        family="electra",
        model_types=("electra",),
        embeddings=_BERT_EMBEDDINGS,
        layer=_BERT_LAYER,
        optional=(_lin("embeddings_project", None, "hidden"),),
        heads=_ROBERTA_HEADS,
    ),
)

ARCHS += (
    ArchSpec(
        family="distilbert",
        model_types=("distilbert",),
        embeddings=(
            _emb("embeddings.word_embeddings"),
            _emb("embeddings.position_embeddings"),
            _ln("embeddings.LayerNorm", "emb"),
        ),
        layer=(
            _lin("attention.q_lin", "hidden", "heads"),
            _lin("attention.k_lin", "hidden", "heads"),
            _lin("attention.v_lin", "hidden", "heads"),
            _lin("attention.out_lin", "heads", "hidden"),
            _ln("sa_layer_norm"),
            _lin("ffn.lin1", "hidden", "ffn"),
            _lin("ffn.lin2", "ffn", "hidden"),
            _ln("output_layer_norm"),
        ),
        layers="transformer.layer",
        attention="attention",
        heads={
            "ForSequenceClassification": (
                _lin("pre_classifier", "hidden", "hidden", per_token=False),
                _lin("classifier", "hidden", None, per_token=False),
            ),
            **_TOKEN_HEADS,
        },
        config_fields={"hidden": "dim", "heads": "n_heads", "ffn": "hidden_dim", "layers": "n_layers"},
        head_attrs=("n_heads",),
        head_size_attrs=(),
    ),
)

SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(t for a in ARCHS for t in a.model_types)


def arch_for(model_type: str) -> ArchSpec:
    """The table entry for a ``config.model_type``; a clear error for anything else."""
    for spec in ARCHS:
        if model_type in spec.model_types:
            return spec
    raise ValueError(
        f"unsupported model type '{model_type}': bert_ofa supports {', '.join(SUPPORTED_MODEL_TYPES)} "
        "(bare encoders and their *ForSequenceClassification models)"
    )
