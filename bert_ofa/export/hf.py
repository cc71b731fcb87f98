"""Export a subnet as a standalone Hugging Face model folder (stock class when possible, else compact).

A subnet is *stock-expressible* when every kept layer has the same heads and FFN width and
heads x head_dim equals the hidden size: then the stock class of the model (BertFor..., ...)
loads it with no extra code. Any other subnet is saved as the ``bert_ofa_compact`` type
(see ``bert_ofa.export.compact``), whose code travels with the folder.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import compact
from ..core.arch import ArchSpec
from ..core.convert import get_state
from ..core.sampling import largest_of
from ..core.counting import count_flops, count_params
from ..core.extract import extract_subnet
from ..core.inputs import dummy_inputs
from .hub import model_card
from ..records import atomic_write_text
from ..core.space import SearchSpace
from ..core.subnet import SubnetConfig, SubnetError

logger = logging.getLogger(__name__)
_RESIZABLE = {nn.Linear: "Linear", nn.LayerNorm: "LayerNorm", nn.Embedding: "Embedding"}
_PLAIN = (bool, int, float, str, type(None))


def is_stock_expressible(subnet: SubnetConfig, space: SearchSpace) -> bool:
    """Same heads and FFN width in every kept layer, and heads x head_dim == hidden."""
    return subnet.is_uniform() and subnet.heads[0] * space.head_dim == subnet.hidden


def stock_candidates(subnet: SubnetConfig, space: SearchSpace) -> list[SubnetConfig]:
    """Stock-expressible subnets of the space that contain ``subnet``, smallest first.

    Each keeps the same layers, takes the widest kept layer's FFN width, and a (heads, hidden)
    pair of the space with heads x head_dim == hidden, heads >= every kept layer's heads and
    hidden >= the subnet's. None drops a weight the subnet uses (they can cost more); the
    full (heads, hidden) pair always qualifies.
    """
    subnet.validate(space)
    d, hd = subnet.depth, space.head_dim  # a stock-expressible subnet comes first: its own pair is the smallest
    pairs = sorted((h, h * hd) for h in space.heads
                   if h >= max(subnet.heads) and h * hd in space.hidden and h * hd >= subnet.hidden)
    return [SubnetConfig(list(subnet.layers), [h] * d, [max(subnet.ffn)] * d, hidden) for h, hidden in pairs]


def nearest_stock_subnet(subnet: SubnetConfig, space: SearchSpace) -> SubnetConfig:
    """The smallest of ``stock_candidates`` (see there for the rule).

    ``force_stock`` exports it, or the next candidate if the stock class cannot hold it.
    """
    candidates = stock_candidates(subnet, space)
    if not candidates:
        raise SubnetError(f"no stock-expressible subnet contains {subnet.to_dict()} in this space "
                          f"(heads {list(space.heads)}, head_dim {space.head_dim}, hidden {list(space.hidden)})")
    return candidates[0]


def _fix_embedding_width(config, model: nn.Module, hidden: int) -> None:
    # Unprojected ELECTRA: embeddings follow the hidden size, and the stock class adds a
    # projection whenever embedding_size != hidden_size, so keep the two equal.
    base = model.base_model
    if hasattr(config, "embedding_size") and getattr(base, "embeddings_project", None) is None:
        config.embedding_size = hidden


def _stock_config(small: nn.Module, sub: SubnetConfig):
    config = copy.deepcopy(small.config)
    config.__dict__.pop("ofa_subnet", None)  # subnet.json carries it; the stock config stays stock
    _fix_embedding_width(config, small, sub.hidden)
    return config


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def stock_config_for(small: nn.Module, sub: SubnetConfig, space: SearchSpace):
    """The stock config of an extracted subnet, or None when its stock class cannot hold it.

    Besides the size rule (``is_stock_expressible``), the stock class built from the config must
    have exactly the subnet's weights (e.g. a projected ELECTRA whose hidden size shrinks to the
    embedding size would lose its projection).
    """
    if not is_stock_expressible(sub, space):
        return None
    config = _stock_config(small, sub)
    with torch.device("meta"):
        skeleton = type(small)(config)
    return config if _shapes(skeleton) == _shapes(small) else None


def _module_args(module: nn.Module) -> dict[str, Any]:
    if isinstance(module, nn.Linear):
        return {"in_features": module.in_features, "out_features": module.out_features, "bias": module.bias is not None}
    if isinstance(module, nn.LayerNorm):
        return {"normalized_shape": list(module.normalized_shape), "eps": module.eps,
                "elementwise_affine": module.elementwise_affine, "bias": module.bias is not None}
    return {"num_embeddings": module.num_embeddings, "embedding_dim": module.embedding_dim,
            "padding_idx": module.padding_idx}


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def _plan_part(small: nn.Module, skeleton: nn.Module, skip: str = "") -> dict[str, dict]:
    """What turns ``skeleton`` into ``small``: resizable modules of other (or missing) shapes, and
    scalar attributes of other values. Paths under ``skip`` (the base model of a task model) are left out.
    """
    built = dict(skeleton.named_modules())
    extra = [p for p in built if not (skip and _within(p, skip)) and p not in dict(small.named_modules())]
    if extra:
        raise ValueError(f"compact export: the stock skeleton has modules the subnet lacks: {extra}")
    modules, attrs = {}, {}
    for path, module in small.named_modules():
        if skip and _within(path, skip):
            continue
        other = built.get(path)
        if type(module) in _RESIZABLE:
            if other is None or _module_args(module) != _module_args(other):
                modules[path] = {"type": _RESIZABLE[type(module)], "args": _module_args(module)}
            continue
        if other is None or type(other) is not type(module):
            raise ValueError(f"compact export: the stock skeleton has no {type(module).__name__} at '{path}'")
        changed = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"
                   and isinstance(v, _PLAIN) and getattr(other, k, object()) != v}
        if changed:
            attrs[path] = changed
    return {"modules": modules, "attrs": attrs}


def _compact_config(small: nn.Module, spec: ArchSpec, sub: SubnetConfig) -> compact.OfaCompactConfig:
    stock = _stock_config(small, sub)
    fields = spec.config_fields
    # the skeleton only has to construct (stock code checks hidden % heads); the plan resizes it
    heads = max(sub.heads)
    setattr(stock, fields["heads"], heads if sub.hidden % heads == 0 else 1)
    setattr(stock, fields["ffn"], max(sub.ffn))
    with torch.device("meta"):
        skeleton = type(small)(stock)
    prefix = "" if small.base_model is small else small.base_model_prefix
    plan = {"base": _plan_part(small.base_model, skeleton.base_model),
            "head": _plan_part(small, skeleton, skip=prefix) if prefix else {"modules": {}, "attrs": {}}}
    base = stock.to_dict()
    for key in ("architectures", "transformers_version", "_name_or_path", "auto_map", "dtype"):
        base.pop(key, None)
    data = dict(base_config=base, ofa_subnet=sub.to_dict(), ofa_resize_plan=plan,
                id2label=stock.id2label, label2id=stock.label2id, problem_type=stock.problem_type,
                auto_map=dict(compact.AUTO_MAP))
    return compact.OfaCompactConfig(**json.loads(json.dumps(data)))  # exactly what config.json will hold


def _output(out) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def _rebuild(cls, config, small: nn.Module) -> nn.Module:
    """``cls(config)`` holding ``small``'s weights, checked to compute what ``small`` computes."""
    model = cls(config).eval()
    model.load_state_dict(small.state_dict(), strict=True)
    batch = dummy_inputs(small)
    with torch.no_grad():
        diff = (_output(model(**batch)) - _output(small(**batch))).abs().max().item()
    if diff > 1e-5:
        raise RuntimeError(f"export check failed: {cls.__name__} differs from the extracted subnet by {diff:.2e}")
    return model


def _check_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"output path {output_dir} exists and is not a directory")
    if not (output_dir.is_dir() and any(output_dir.iterdir())):
        return
    if not overwrite:
        raise FileExistsError(f"output directory {output_dir} exists and is not empty; "
                              "pass overwrite=True (--overwrite) to replace its contents")
    here = Path.cwd().resolve()
    if (output_dir / ".git").exists() or output_dir.resolve() in (here, *here.parents):
        raise FileExistsError(f"refusing to overwrite {output_dir}: it is a repository or holds the working directory")


def _replace_dir(tmp: Path, output_dir: Path) -> None:
    # the export is written next to its destination and swapped in at the end, so a failed
    # export leaves any previous contents as they were
    if output_dir.is_dir():
        shutil.rmtree(output_dir)
    os.replace(tmp, output_dir)


def _find_tokenizer(model: nn.Module):
    """The tokenizer saved with the supernet (its source folder or local hub cache), if any."""
    source = str(getattr(model.config, "_name_or_path", "") or "")
    if not source:
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "no tokenizer found"; the caller warns
        return None


def _write_folder(folder: Path, model: nn.Module, stock: bool, tokenizer, sub: SubnetConfig, onnx: bool) -> None:
    model.save_pretrained(folder)
    if not stock:
        for path in compact.REMOTE_CODE_FILES:
            shutil.copyfile(path, folder / path.name)
    if tokenizer is None:
        warnings.warn("no tokenizer given or found for the supernet: the export holds the model only; save the "
                      "base model's tokenizer into it before using it with pipelines", stacklevel=3)
    else:
        tokenizer.save_pretrained(folder)
    sub.to_json(folder / "subnet.json")
    if onnx:
        from .onnx import export_onnx

        export_onnx(model, folder / "model.onnx")


def _select(supernet_model: nn.Module, requested: SubnetConfig, force_stock: bool):
    """(subnet to export, its extracted model, its stock config or None)."""
    space = get_state(supernet_model).space
    for sub in stock_candidates(requested, space) if force_stock else [requested]:
        small = extract_subnet(supernet_model, sub).eval()
        stock_config = stock_config_for(small, sub, space)
        if stock_config is not None or not force_stock:
            return sub, small, stock_config
    raise SubnetError(f"force_stock: no stock-expressible subnet of this space contains {requested.to_dict()}")


def _compact_class(small: nn.Module) -> type[nn.Module]:
    if type(small).__name__.endswith("ForSequenceClassification"):
        return compact.OfaCompactForSequenceClassification
    if small.base_model is small:
        return compact.OfaCompactModel
    raise ValueError(f"the compact format covers bare encoders and *ForSequenceClassification models, not "
                     f"{type(small).__name__}; pass force_stock=True to export a stock subnet")


def export_subnet(supernet_model: nn.Module, subnet: SubnetConfig | None, output_dir: str | os.PathLike,
                  tokenizer=None, *, force_stock: bool = False, overwrite: bool = False, onnx: bool = False,
                  card_info: dict | None = None) -> Path:
    """Write ``subnet`` of ``supernet_model`` as a standalone model folder and return its path.

    The folder holds config.json, model.safetensors, the tokenizer (given, or found in the
    supernet's source folder), subnet.json, README.md (model card) and, with ``onnx=True``,
    model.onnx. Stock-expressible subnets use the stock class; others the compact type (its
    code is copied in), unless ``force_stock`` exports the first of ``stock_candidates`` instead
    (with a warning). Raises ``SubnetError`` for a subnet outside the space and
    ``FileExistsError`` for a non-empty ``output_dir`` unless ``overwrite``.
    """
    state = get_state(supernet_model)
    space = state.space
    requested = SubnetConfig.from_dict((subnet if subnet is not None else state.active).to_dict()).validate(space)
    output_dir = Path(os.path.abspath(output_dir))  # "." has no name to put a temporary folder next to
    _check_output_dir(output_dir, overwrite)

    sub, small, stock_config = _select(supernet_model, requested, force_stock)
    if sub != requested:
        warnings.warn(
            f"force_stock: {requested.to_dict()} is not expressible in the stock architecture; exporting "
            f"{sub.to_dict()} instead ({count_flops(supernet_model, sub) / 1e6:.2f} vs "
            f"{count_flops(supernet_model, requested) / 1e6:.2f} MFLOPs per 128-token sequence)", stacklevel=2)
    stock = stock_config is not None
    if stock:
        model = _rebuild(type(small), stock_config, small)
    else:
        model = _rebuild(_compact_class(small), _compact_config(small, state.spec, sub), small)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.with_name(f".{output_dir.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        _write_folder(tmp, model, stock, tokenizer if tokenizer is not None else _find_tokenizer(supernet_model),
                      sub, onnx)
        full = largest_of(space)
        stats = {"params": count_params(supernet_model, sub), "params_full": count_params(supernet_model, full),
                 "flops": count_flops(supernet_model, sub), "flops_full": count_flops(supernet_model, full)}
        atomic_write_text(tmp / "README.md", model_card(
            sub, stats, stock=stock, model_class=type(small).__name__, base_config=supernet_model.config,
            card_info=card_info, requested=None if sub == requested else requested))
        _replace_dir(tmp, output_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logger.info("exported %s subnet %s to %s", "stock" if stock else "compact", sub.to_dict(), output_dir)
    return output_dir
