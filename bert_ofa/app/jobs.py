"""The jobs behind ``bert-ofa evaluate``, ``export`` and ``latency-table``: arguments and what they run.

GLUE is imported inside ``run_evaluate`` only, so that ``import bert_ofa`` (which exposes
``ExportArguments`` and ``run_export``) stays free of ``datasets``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ..core.convert import get_search_space, set_active_subnet
from ..core.counting import count_params
from ..core.sampling import largest_subnet, representative_subnets, subnet_from_mults
from ..core.subnet import SubnetConfig
from ..export.hf import export_subnet
from ..export.hub import push_to_hub
from ..export.supernet_dir import is_supernet_dir, load_supernet
from ..records import atomic_write_text
from ..search.latency import DTYPES, build_latency_model, default_cache_dir


@dataclass
class EvaluateArguments:
    """Score a checkpoint, an exported subnet or a supernet directory on a task's dev split(s)."""

    model: str = field(metadata={"help": "Model folder / hub id, or a supernet directory"})
    task_name: str = field(metadata={"help": "GLUE task (mrpc, stsb, SST-2, ...)"})
    glue_dir: Optional[str] = None
    max_seq_length: int = 128
    batch_size: int = 64
    max_eval_samples: Optional[int] = None
    subnet: Optional[str] = field(default=None, metadata={"help": "Supernet only: subnet JSON text or file"})
    width_mult: Optional[float] = None
    depth_mult: Optional[float] = None
    output_file: Optional[str] = field(default=None, metadata={"help": "Also write the metrics as JSON here"})


def run_evaluate(args: EvaluateArguments) -> dict:
    """Dev metrics of ``args.model`` (a supernet directory: of the chosen subnet)."""
    from glue_tasks.prepare import evaluate_model  # here: GLUE imports datasets


    target, tokenizer = args.model, None
    if is_supernet_dir(args.model):
        from transformers import AutoTokenizer

        target, tokenizer = load_supernet(args.model), AutoTokenizer.from_pretrained(args.model)
        if args.subnet:
            set_active_subnet(target, SubnetConfig.from_json(args.subnet))
        elif args.width_mult or args.depth_mult:
            set_active_subnet(target, subnet_from_mults(target, args.width_mult or 1.0, args.depth_mult or 1.0))
    elif args.subnet or args.width_mult or args.depth_mult:
        raise ValueError(f"--subnet/--width_mult/--depth_mult need a supernet directory; {args.model} is not one")
    metrics = evaluate_model(target, args.task_name, args.glue_dir, args.max_seq_length, args.batch_size,
                             args.max_eval_samples, tokenizer=tokenizer)
    if args.output_file:

        atomic_write_text(args.output_file, json.dumps(metrics, indent=2) + "\n")
    return metrics


@dataclass
class ExportArguments:
    """``bert-ofa export``: one subnet of a supernet directory as a standalone model folder."""

    supernet: str = field(metadata={"help": "Supernet directory (written by bert_ofa.save_supernet)"})
    output_dir: str = field(metadata={"help": "Folder for the exported model (refused if not empty, see --overwrite)"})
    subnet: Optional[str] = field(default=None, metadata={"help": "Subnet JSON text or a subnet.json path"})
    width_mult: Optional[float] = field(default=None, metadata={"help": "Instead of --subnet: heads/FFN multiplier"})
    depth_mult: Optional[float] = field(default=None, metadata={"help": "Instead of --subnet: depth multiplier"})
    force_stock: bool = field(default=False, metadata={"help": "Export the smallest stock subnet containing it"})
    overwrite: bool = field(default=False, metadata={"help": "Replace a non-empty output_dir"})
    onnx: bool = field(default=False, metadata={"help": "Also write model.onnx (checked with onnxruntime)"})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the folder to the Hugging Face Hub"})
    hub_model_id: Optional[str] = field(default=None, metadata={"help": "Hub repo id, user/name"})
    private: bool = field(default=False, metadata={"help": "Create the hub repo as private"})
    hub_token: Optional[str] = field(default=None, metadata={"help": "Hub token; the logged-in one if not given"})
    dry_run: bool = field(default=False, metadata={"help": "List the files push_to_hub would upload; no network"})

    def __post_init__(self) -> None:
        self.supernet, self.output_dir = os.fspath(self.supernet), os.fspath(self.output_dir)
        mults = {"width_mult": self.width_mult, "depth_mult": self.depth_mult}
        if self.subnet is not None and any(v is not None for v in mults.values()):
            raise ValueError("give either subnet or width_mult/depth_mult, not both")
        for name, value in mults.items():
            if value is not None and not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("push_to_hub needs hub_model_id (user/name)")
        hub_only = [n for n in ("hub_model_id", "private", "hub_token", "dry_run") if getattr(self, n)]
        if hub_only and not self.push_to_hub:
            raise ValueError(f"{', '.join(hub_only)} only apply with push_to_hub")


def run_export(args: ExportArguments) -> Path:
    """Load ``args.supernet``, pick the subnet (JSON, multipliers, or the largest), export, optionally upload."""

    model = load_supernet(args.supernet)
    if args.subnet is not None:
        subnet = SubnetConfig.from_json(args.subnet)
    elif args.width_mult is not None or args.depth_mult is not None:
        subnet = subnet_from_mults(model, args.width_mult or 1.0, args.depth_mult or 1.0)
    else:
        subnet = largest_subnet(model)
    card_info = {"repo_id": args.hub_model_id} if args.hub_model_id else None
    out = export_subnet(model, subnet, args.output_dir, force_stock=args.force_stock, overwrite=args.overwrite,
                        onnx=args.onnx, card_info=card_info)
    if args.push_to_hub:
        upload = push_to_hub(out, args.hub_model_id, private=args.private, token=args.hub_token,
                             dry_run=args.dry_run)
        if upload.url:
            print(f"uploaded {len(upload.files)} files: {upload.url}")
    return out


@dataclass
class LatencyTableArguments:
    """``bert-ofa latency-table``: measure this device, fit and cache the latency model, print its error."""

    supernet: str = field(metadata={"help": "Supernet directory (bert_ofa.save_supernet)"})
    device: str = field(default="cpu", metadata={"choices": ["cpu", "cuda"]})
    threads: Optional[int] = field(default=None, metadata={"help": "CPU threads; unset: torch's current number"})
    dtype: str = field(default="float32", metadata={"choices": list(DTYPES)})
    batch_size: int = 1
    seq_len: int = 128
    latency_samples: int = field(default=40, metadata={"help": "Subnets measured for the fit"})
    cache_dir: Optional[str] = field(default=None,
                                     metadata={"help": "Latency table cache; unset: ~/.cache/bert_ofa/latency"})
    seed: int = 0
    rebuild: bool = field(default=False, metadata={"help": "Measure again even if a cached table fits"})

    def __post_init__(self) -> None:
        self.supernet = os.fspath(self.supernet)
        if self.device not in ("cpu", "cuda") or self.dtype not in DTYPES:
            raise ValueError(f"device must be cpu or cuda and dtype one of {list(DTYPES)}; "
                             f"got {self.device}, {self.dtype}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device cuda: no CUDA device is available here")
        for name in ("threads", "batch_size", "seq_len", "latency_samples"):
            value = getattr(self, name)
            if value is not None and value < (3 if name == "latency_samples" else 1):
                raise ValueError(f"{name} must be >= {3 if name == 'latency_samples' else 1}, got {value}")


def run_latency_table(args: LatencyTableArguments) -> dict[str, Any]:
    """Build (or load) the latency model of ``args.supernet`` on this device; print its MAPE and a table."""

    model = load_supernet(args.supernet).to(args.device)
    lm = build_latency_model(model, args.batch_size, args.seq_len, args.latency_samples, device=args.device,
                             threads=args.threads, dtype=args.dtype, seed=args.seed, rebuild=args.rebuild,
                             cache_dir=args.cache_dir or default_cache_dir())
    table = {name: lm.predict(s) for name, s in representative_subnets(get_search_space(model)).items()}
    print(f"latency model for {lm.key['device']} ({'cached' if lm.from_cache else 'measured now'}): "
          f"MAPE {lm.mape:.1f}% on held-out subnets; {lm.cache_file}")
    for name, s in representative_subnets(get_search_space(model)).items():
        print(f"  {name:<24} {table[name]:8.2f} ms  {count_params(model, s) / 1e6:7.2f}M params")
    return {"cache_file": lm.cache_file, "mape_percent": lm.mape, "from_cache": lm.from_cache,
            "n_samples": lm.n_samples, "predicted_ms": table}
