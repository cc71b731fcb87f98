"""ONNX export of an exported (stock or compact) model, checked against PyTorch with ONNX Runtime.

Uses torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs
``onnxscript``, which is not a dependency. Batch and sequence axes are dynamic.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..core.inputs import dummy_inputs

logger = logging.getLogger(__name__)
OPSET = 17


def onnx_input_names(model: nn.Module) -> list[str]:
    """input_ids and attention_mask, plus token_type_ids where the model has more than one token type."""
    stock = getattr(model, "stock_model", model)  # a compact model runs its stock model's forward
    names = ["input_ids", "attention_mask"]
    if ("token_type_ids" in inspect.signature(stock.forward).parameters
            and getattr(stock.config, "type_vocab_size", 0) > 1):
        names.append("token_type_ids")
    return names


class _Positional(nn.Module):
    """The traced exporter passes positional tensors; the models take keywords."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        out = self.model(**dict(zip(self.names, tensors)))
        return out.last_hidden_state if self.model.base_model is self.model else out.logits


def onnx_inputs(model: nn.Module, batch: int, seq: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Example inputs for ``onnx_input_names(model)`` (one padded row; token types 0 and 1)."""
    return dummy_inputs(model, batch, seq, seed=seed, token_types="token_type_ids" in onnx_input_names(model))


def _export(model: nn.Module, path: Path, names: list[str]) -> None:
    inputs = onnx_inputs(model, batch=2, seq=8)  # traced with padding, so the mask path is kept
    wrapper = _Positional(model, names).eval()
    args = tuple(inputs[n] for n in names)
    with torch.no_grad():
        ndim = wrapper(*args).dim()
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[_output_name(model)] = {0: "batch", 1: "sequence"} if ndim == 3 else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings of the TorchScript exporter
        torch.onnx.export(wrapper, args, str(path), dynamo=False, input_names=names,
                          output_names=[_output_name(model)], dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True)


def _output_name(model: nn.Module) -> str:
    return "last_hidden_state" if model.base_model is model else "logits"


def check_onnx(model: nn.Module, path: str | os.PathLike, batch: int = 3, seq: int = 13) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch outputs at ``batch`` x ``seq``."""
    import onnxruntime as ort

    inputs = onnx_inputs(model, batch, seq, seed=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, {n: inputs[n].numpy() for n in names})[0]
    with torch.no_grad():
        want = _Positional(model, names).eval()(*(inputs[n] for n in names)).numpy()
    return float(abs(got - want).max())


def export_onnx(model: nn.Module, path: str | os.PathLike, tolerance: float = 1e-4) -> Path:
    """Write ``model`` (eval mode) to ``path`` as ONNX and check it with ONNX Runtime when installed.

    The output is ``logits`` for task models with one logits tensor (sequence or token
    classification) and ``last_hidden_state`` for bare encoders.
    """
    path = Path(path)
    model.eval()
    names = onnx_input_names(model)
    try:
        _export(model, path, names)
    except Exception as err:  # noqa: BLE001 - any exporter failure gets one retry with eager attention
        stock = getattr(model, "stock_model", model)
        previous = stock.config._attn_implementation
        if previous == "eager":
            raise
        logger.warning("ONNX export with %s attention failed (%s); retrying with eager attention", previous, err)
        stock.set_attn_implementation("eager")
        try:
            _export(model, path, names)
        finally:
            stock.set_attn_implementation(previous)
    try:
        diff = check_onnx(model, path)
    except ImportError:
        logger.warning("onnxruntime is not installed: %s was not checked against PyTorch", path)
        return path
    if diff > tolerance:
        raise RuntimeError(f"ONNX check failed: {path} differs from PyTorch by {diff:.2e} (> {tolerance})")
    return path
