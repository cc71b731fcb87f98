"""A supernet directory: the stock checkpoint, its search space and the SupernetConfig used.

``save_supernet`` writes ``model.save_pretrained`` (a converted model saves as its stock
model: the state-dict keys are unchanged), ``search_space.json`` (the resolved space),
``supernet_config.json`` and the tokenizer if given. ``load_supernet`` reloads the stock
model and converts it again with the same space. ``ExportArguments`` / ``run_export`` are the
``bert-ofa export`` command: supernet directory in, exported model folder out.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from torch import nn

from .convert import Convert, get_search_space
from .records import atomic_write_text
from .space import SearchSpace, SupernetConfig

SPACE_FILE = "search_space.json"
CONFIG_FILE = "supernet_config.json"


def supernet_config_for(space: SearchSpace) -> SupernetConfig:
    """A SupernetConfig that resolves to exactly ``space`` on its model (absolute choices + ratios)."""
    ratios = [r for r in space.width_mults if r < 1.0]
    return SupernetConfig(expand_ratio=ratios or None, num_heads=list(space.heads),
                          intermediate_size=list(space.ffn), hidden_size=list(space.hidden), depth=list(space.depth))


def save_supernet(model: nn.Module, path: str | os.PathLike, tokenizer=None,
                  supernet_config: SupernetConfig | None = None) -> Path:
    """Save a converted model as a supernet directory; ``supernet_config`` defaults to one rebuilt from its space."""
    path = Path(path)
    space = get_search_space(model)
    config = supernet_config if supernet_config is not None else supernet_config_for(space)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    atomic_write_text(path / SPACE_FILE, json.dumps(space.to_dict(), indent=2) + "\n")
    atomic_write_text(path / CONFIG_FILE, json.dumps(asdict(config), indent=2) + "\n")
    return path


def is_supernet_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / SPACE_FILE).is_file() and (Path(path) / "config.json").is_file()


def load_supernet(path: str | os.PathLike, auto_class=None) -> nn.Module:
    """Load a supernet directory (``AutoModelForSequenceClassification`` unless ``auto_class``), converted, eval mode.

    Raises ``FileNotFoundError`` for a folder that is not a supernet directory and
    ``ValueError`` if the stored space does not fit the stored model.
    """
    from transformers import AutoModelForSequenceClassification

    path = Path(path)
    if not is_supernet_dir(path):
        raise FileNotFoundError(f"{path} is not a supernet directory (needs config.json and {SPACE_FILE}; "
                                "write one with bert_ofa.persist.save_supernet)")
    space = SearchSpace.from_dict(json.loads((path / SPACE_FILE).read_text(encoding="utf-8")))
    model = (auto_class or AutoModelForSequenceClassification).from_pretrained(path).eval()
    Convert(space).convert(model)  # raises if the space does not fit this model's shape
    return model


@dataclass
class ExportArguments:
    """``bert-ofa export``: one subnet of a supernet directory as a standalone model folder."""

    supernet: str = field(metadata={"help": "Supernet directory (written by bert_ofa.persist.save_supernet)"})
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
    from .convert import largest_subnet, subnet_from_mults
    from .export import export_subnet
    from .hub import push_to_hub
    from .subnet import SubnetConfig

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
