"""The model card of an exported subnet, and uploading an exported folder to the Hugging Face Hub."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.subnet import SubnetConfig

if TYPE_CHECKING:
    from transformers import PretrainedConfig

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def shape_summary(subnet: SubnetConfig) -> str:
    """``"6 layers, heads 12, FFN 1536, hidden 384"``; ranges (``heads 4-12``) for per-layer sizes."""
    def span(values: list[int]) -> str:
        lo, hi = min(values), max(values)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    return f"{subnet.depth} layers, heads {span(subnet.heads)}, FFN {span(subnet.ffn)}, hidden {subnet.hidden}"


def _millions(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n < 1e8 else f"{n / 1e6:.0f}M"


def _table(rows: dict[str, Any]) -> list[str]:
    return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows.items()]


def model_card(subnet: SubnetConfig, stats: dict[str, int], *, stock: bool, model_class: str,
               base_config: PretrainedConfig, card_info: dict | None = None,
               requested: SubnetConfig | None = None) -> str:
    """README.md text: metadata, subnet, size and FLOPs vs the full model, latency, metrics, loading.

    ``stats`` holds ``params``, ``params_full``, ``flops`` and ``flops_full`` (``bert_ofa.count_*``);
    ``base_config`` is the supernet's config; ``requested`` the subnet asked for when
    ``force_stock`` exported another one.
    ``card_info`` keys (all optional): ``base_model`` (hub id), ``task``, ``dataset``, ``license``,
    ``metrics`` (name -> value), ``latency`` (setting -> value), ``repo_id`` (for the snippet);
    any other key is listed under "Notes".
    """
    info = dict(card_info or {})
    source = str(getattr(base_config, "_name_or_path", "") or "")
    hub_id = source if _REPO_ID.match(source) and not os.path.exists(source) else None  # not a local folder
    base_model = info.pop("base_model", None) or hub_id
    license_ = info.pop("license", None)
    task, dataset = info.pop("task", None), info.pop("dataset", None)
    metrics, latency = info.pop("metrics", None) or {}, info.pop("latency", None) or {}
    repo = info.pop("repo_id", None) or "<folder or hub id>"
    classification = model_class.endswith("ForSequenceClassification")

    meta = [f"license: {license_ or 'other'}", "library_name: transformers",
            f"pipeline_tag: {'text-classification' if classification else 'feature-extraction'}",
            "tags:", "- bert_ofa", "- once-for-all", "- pruned"]
    if base_model:
        meta.append(f"base_model: {base_model}")
    if dataset:
        meta += ["datasets:", f"- {dataset}"]
    lines = ["---", *meta, "---", "",
             f"# {base_model or base_config.model_type} subnet ({shape_summary(subnet)})", "",
             "A subnet extracted from a Once-For-All supernet with "
             "`bert_ofa` and saved as a standalone model"
             + (f" for {task}." if task else "."), ""]
    if requested is not None:
        lines += [f"Exported with `force_stock`: the chosen subnet `{requested.to_dict()}` needs per-layer sizes, "
                  "so the smallest stock subnet containing it was exported instead.", ""]
    lines += ["## Subnet", "", *_table({
        "format": f"stock `{model_class}`" if stock else "compact `bert_ofa_compact` (custom code)",
        "kept layers (of the supernet)": subnet.layers, "attention heads per layer": subnet.heads,
        "FFN width per layer": subnet.ffn, "hidden size": subnet.hidden}), "",
        "`subnet.json` holds the same configuration.", "", "## Size", "",
        "| | this model | full model | ratio |", "|---|---|---|---|",
        f"| parameters | {_millions(stats['params'])} | {_millions(stats['params_full'])} | "
        f"{stats['params'] / stats['params_full']:.3f} |",
        f"| FLOPs (one sequence of 128 tokens) | {stats['flops'] / 1e9:.3f} G | {stats['flops_full'] / 1e9:.3f} G | "
        f"{stats['flops'] / stats['flops_full']:.3f} |", ""]
    if latency:
        lines += ["## Latency", "", *_table(latency), ""]
    if metrics:
        lines += ["## Evaluation" + (f" ({dataset})" if dataset else ""), "", *_table(metrics), ""]
    auto = "AutoModelForSequenceClassification" if classification else "AutoModel"
    remote = "" if stock else ", trust_remote_code=True"
    lines += ["## How to load", "", "```python", f"from transformers import AutoTokenizer, {auto}", "",
              f'model = {auto}.from_pretrained("{repo}"{remote})',
              f'tokenizer = AutoTokenizer.from_pretrained("{repo}")', "```", ""]
    if not stock:
        lines += ["The compact format runs the stock modeling code of "
                  f"`{base_config.model_type}` with per-layer module sizes; its two code files are in this folder. "
                  "With `bert_ofa` installed, `import bert_ofa` registers the type and `trust_remote_code` "
                  "is not needed.", ""]
    if info:
        lines += ["## Notes", "", *_table(info), ""]
    lines += ["## License", "", f"{license_}." if license_ else
              "Not set at export: the base model's license applies (pass `card_info={'license': ...}`).", ""]
    return "\n".join(lines)


@dataclass
class HubUpload:
    """What ``push_to_hub`` uploaded (or would upload, with ``dry_run``)."""

    repo_id: str
    files: list[str]
    commit_message: str
    private: bool
    url: str | None = None


def folder_files(folder: str | os.PathLike) -> list[str]:
    """Files of an exported folder, relative and sorted; hidden files and folders are left out."""
    root = Path(folder)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def push_to_hub(folder: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None,
                commit_message: str | None = None, dry_run: bool = False) -> HubUpload:
    """Create ``repo_id`` (if needed) and upload the exported ``folder`` to it in one commit.

    With ``dry_run`` nothing touches the network: the files that would be uploaded are printed
    and returned.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not an exported model folder (no config.json)")
    if not _REPO_ID.match(repo_id):
        raise ValueError(f"hub repo id must look like 'user/name', got {repo_id!r}")
    if commit_message is None:
        subnet_file = folder / "subnet.json"
        shape = f" ({shape_summary(SubnetConfig.from_json(subnet_file))})" if subnet_file.is_file() else ""
        commit_message = f"Upload bert_ofa subnet{shape}"
    upload = HubUpload(repo_id, folder_files(folder), commit_message, private)
    if dry_run:
        print(f"dry run: would upload to {repo_id} ({'private' if private else 'public'}): {commit_message}")
        for name in upload.files:
            print(f"  {name}")
        return upload

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message,
                               allow_patterns=upload.files, repo_type="model")
    upload.url = getattr(commit, "commit_url", None) or str(commit)
    return upload
