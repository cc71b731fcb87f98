"""Atomic training checkpoints: weights, optimizer, RNG states and the position in the schedule."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(output_dir: str | os.PathLike, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, trainer_state: dict[str, Any], keep: int = 2,
                    extra_models: dict[str, torch.nn.Module] | None = None) -> Path:
    """Write ``checkpoint-<step>`` atomically (a temporary folder renamed into place).

    ``extra_models``: other modules the run needs to continue (e.g. a refreshed teacher),
    each saved as ``<name>.safetensors``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / f"checkpoint-{step}"
    tmp = Path(tempfile.mkdtemp(dir=output_dir, prefix=f".checkpoint-{step}."))
    try:
        save_model(model, str(tmp / "model.safetensors"))
        for name, module in (extra_models or {}).items():
            save_model(module, str(tmp / f"{name}.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "rng": rng_state()}, tmp / "training_state.pt")
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(output_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders are never listed)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if (m := CKPT_RE.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def find_checkpoint(spec: str, output_dir: str | os.PathLike) -> Path:
    """``latest`` -> the newest checkpoint in ``output_dir``; otherwise a checkpoint path."""
    if spec == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(f"--resume_from_checkpoint latest: no checkpoint-* folder in {output_dir}")
        return found[-1]
    path = Path(spec)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint folder (no trainer_state.json)")
    return path


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimizer and RNG states; returns the trainer state."""
    path = Path(path)
    load_model(model, str(path / "model.safetensors"))
    state = torch.load(path / "training_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    return json.loads((path / "trainer_state.json").read_text())


def load_extra_model(path: str | os.PathLike, name: str, module: torch.nn.Module) -> None:
    """Restore a module saved with ``save_checkpoint(..., extra_models={name: module})``."""
    file = Path(path) / f"{name}.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing: the checkpoint was written without its {name}")
    load_model(module, str(file))
