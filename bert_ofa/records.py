"""Run records: every number in results/ comes with its command, versions and hardware."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any


def environment() -> dict[str, Any]:
    """Versions and hardware of this run."""
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    env.update(git_state())
    return env


@lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """This process's code: ``read_git_state`` of the package's tree, read once, at the first call.

    Not at import (importing bert_ofa starts no process); a long job calls it when it starts, so that
    its record names the code it loaded, not a later commit."""
    return read_git_state()


def read_git_state(root: Path = Path(__file__).resolve().parent.parent) -> dict[str, Any]:
    """The commit ``root``'s code came from, and whether tracked files differed from it."""
    commit = os.environ.get("BERT_OFA_GIT_COMMIT")  # set where the tree is a copy (a GPU machine)
    if commit is not None:
        return {"git_commit": commit}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"git_commit": git("rev-parse", "HEAD"),
                "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None}


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_record(path: str | os.PathLike, kind: str, results: Any, **extra: Any) -> dict[str, Any]:
    """Write a JSON record: kind, the command line, time, environment, results."""
    record = {
        "kind": kind,
        "command": " ".join([os.path.relpath(sys.argv[0]) if sys.argv[0] else "python"] + sys.argv[1:]),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "env": environment(),
        **extra,
        "results": results,
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return record
