"""Load GLUE as a ``datasets.DatasetDict`` shaped like the hub's ``nyu-mll/glue``.

Sources, in order: an explicit ``glue_dir``, the ``GLUE_DIR`` environment variable, the
hub. A GLUE directory has the official download layout (``<TASK>/train.tsv``, ``dev.tsv``,
``test.tsv``; MNLI ``dev_matched.tsv`` ...; AX ``diagnostic/AX.tsv``). Local rows get the
hub's columns (inputs, ``label``, ``idx``), label ids, features and order; ``idx`` is
0..n-1 in file order and unlabeled test rows get label -1.

One known difference: the hub builds MRPC from ``msr_paraphrase_*.txt`` (see its
``glue.py``), so its MRPC train/validation ``idx`` are row numbers in that file and its
MRPC test split carries labels; here MRPC comes from the GLUE ``*.tsv`` files like
every other task (contiguous ``idx``, unlabeled test, as the benchmark intends).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import datasets

from .tasks import TaskInfo, get_task

logger = logging.getLogger(__name__)

HUB_DATASET = "nyu-mll/glue"
_HOW_TO_GET = (
    "Download GLUE with the official script (download_glue_data.py, which writes "
    "<glue_dir>/<TASK>/{train,dev,test}.tsv) and point GLUE_DIR or glue_dir at it, "
    f"or unset GLUE_DIR to load {HUB_DATASET!r} from the Hugging Face hub."
)


class GlueUnavailableError(RuntimeError):
    """GLUE could be read neither from a local directory nor from the hub."""


@dataclass(frozen=True)
class _FileSpec:
    path: str  # relative to the GLUE directory
    columns: tuple[str, ...]  # file columns holding the task's inputs, in hub order
    label: str | None  # file column holding the label; None: unlabeled (test)
    header: tuple[str, ...] | None = None  # column names of a file without a header line


def _layout(task: TaskInfo) -> dict[str, _FileSpec]:
    """Split name -> file spec for one task in the official GLUE layout."""
    d = task.dir_name
    cols = {
        "cola": ("sentence",), "sst2": ("sentence",), "mrpc": ("#1 String", "#2 String"),
        "qqp": ("question1", "question2"), "qnli": ("question", "sentence"),
    }.get(task.hub_name, ("sentence1", "sentence2"))
    label = {"mrpc": "Quality", "stsb": "score", "qqp": "is_duplicate",
             "mnli": "gold_label"}.get(task.hub_name, "label")
    if task.hub_name == "ax":
        return {"test": _FileSpec("diagnostic/AX.tsv", cols, None)}
    if task.hub_name == "mnli":
        files = {"train": "train", "validation_matched": "dev_matched",
                 "validation_mismatched": "dev_mismatched", "test_matched": "test_matched",
                 "test_mismatched": "test_mismatched"}
    else:
        files = {"train": "train", "validation": "dev", "test": "test"}
    # CoLA train/dev are the only files without a header line.
    cola_header = ("source", "label", "label_mark", "sentence") if task.hub_name == "cola" else None
    return {
        split: _FileSpec(f"{d}/{name}.tsv", cols, None if split.startswith("test") else label,
                         None if split.startswith("test") else cola_header)
        for split, name in files.items()
    }


def _parse_label(task: TaskInfo, value: str, where: str) -> int | float:
    if task.is_regression:
        try:
            score = float(value)
        except ValueError:
            score = math.nan
        if not 0.0 <= score <= 5.0:
            raise ValueError(f"{where}: bad {task.name} score {value!r} (expected a number in 0..5)")
        return score
    if value in task.label_names:
        return task.label_names.index(value)
    if value.isascii() and value.isdigit() and int(value) < task.num_labels:  # 0/1 in CoLA, SST-2, ...
        return int(value)
    raise ValueError(f"{where}: bad {task.name} label {value!r} (expected one of "
                     f"{list(task.label_names)} or an id 0..{task.num_labels - 1})")


def read_glue_file(task: str | TaskInfo, split: str, glue_dir: str | os.PathLike) -> dict[str, list]:
    """Read one split of one task from a GLUE directory into hub-shaped columns."""
    task = get_task(task)
    specs = _layout(task)
    if split not in specs:
        raise ValueError(f"{task.name} has no split {split!r}; splits: {list(specs)}")
    spec = specs[split]
    path = Path(glue_dir) / spec.path
    if not path.is_file():
        raise FileNotFoundError(f"GLUE file not found: {path}. {_HOW_TO_GET}")
    # Tab-separated, no quote handling; lines end with "\n" only (no other line breaks).
    with open(path, encoding="utf-8-sig", newline="\n") as f:
        lines = [line.rstrip("\n").removesuffix("\r") for line in f]
    start = 0
    header = spec.header
    if header is None:
        header, start = tuple(lines[0].split("\t")) if lines else (), 1
    wanted = spec.columns + ((spec.label,) if spec.label else ())
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(f"{path}: columns {missing} not in header {list(header)}")
    pos = [header.index(c) for c in wanted]
    out: dict[str, list] = {c: [] for c in task.input_columns + ("label", "idx")}
    bad: list[int] = []
    for lineno, line in enumerate(lines[start:], start=start + 1):
        fields = line.split("\t")
        if len(fields) != len(header):
            bad.append(lineno)  # wrong column count (e.g. QQP's broken lines): skip, never guess
            continue
        values = [fields[p] for p in pos]
        for col, v in zip(task.input_columns, values):
            out[col].append(v)
        label = _parse_label(task, values[-1], f"{path}:{lineno}") if spec.label else -1
        out["label"].append(float(label) if task.is_regression else label)
        out["idx"].append(len(out["idx"]))
    if bad:
        logger.warning("%s: skipped %d malformed line(s) (expected %d tab-separated fields), "
                       "e.g. line(s) %s", path, len(bad), len(header), bad[:5])
    return out


def glue_features(task: str | TaskInfo) -> datasets.Features:
    """The hub's features for a task: string inputs, ClassLabel (or float32) label, int32 idx."""
    task = get_task(task)
    feats = {c: datasets.Value("string") for c in task.input_columns}
    feats["label"] = (datasets.Value("float32") if task.is_regression
                      else datasets.ClassLabel(names=list(task.label_names)))
    feats["idx"] = datasets.Value("int32")
    return datasets.Features(feats)


def _load_local(task: TaskInfo, glue_dir: str, splits: list[str] | None) -> datasets.DatasetDict:
    if not Path(glue_dir).is_dir():
        raise FileNotFoundError(f"GLUE directory not found: {glue_dir}. {_HOW_TO_GET}")
    names = splits
    if names is None:  # every split whose file exists
        layout = _layout(task)
        names = [s for s in task.splits if (Path(glue_dir) / layout[s].path).is_file()]
        if not names:
            raise FileNotFoundError(f"No {task.name} files under {Path(glue_dir) / task.dir_name}. "
                                    f"{_HOW_TO_GET}")
        if len(names) < len(task.splits):
            logger.warning("%s: no file for split(s) %s under %s", task.name,
                           [s for s in task.splits if s not in names], glue_dir)
    feats = glue_features(task)
    return datasets.DatasetDict({
        s: datasets.Dataset.from_dict(read_glue_file(task, s, glue_dir), features=feats) for s in names
    })


def _load_hub(task: TaskInfo) -> datasets.DatasetDict:
    try:
        return datasets.load_dataset(HUB_DATASET, task.hub_name)
    except Exception as e:  # offline, no cache, hub errors: all mean "no data here"
        raise GlueUnavailableError(
            f"Could not load {task.name} from the hub ({HUB_DATASET!r}, config {task.hub_name!r}): "
            f"{type(e).__name__}: {e}. Set GLUE_DIR (or pass glue_dir) to a local GLUE directory "
            "in the official layout; download it with the official download_glue_data.py script."
        ) from e


def load_glue(task: str | TaskInfo, glue_dir: str | os.PathLike | None = None,
              splits: list[str] | tuple[str, ...] | None = None) -> datasets.DatasetDict:
    """Load a GLUE task as a ``DatasetDict`` with the hub's splits, columns and label ids.

    ``glue_dir`` (else ``$GLUE_DIR``, else the hub). ``splits`` picks splits (a missing
    local file raises ``FileNotFoundError``); by default all splits (locally: those present).
    """
    task = get_task(task)
    if splits is not None:
        splits = list(splits)
        unknown = [s for s in splits if s not in task.splits]
        if unknown:
            raise ValueError(f"{task.name} has no split(s) {unknown}; splits: {list(task.splits)}")
    glue_dir = glue_dir or os.environ.get("GLUE_DIR") or None
    if glue_dir is not None:
        return _load_local(task, os.fspath(glue_dir), splits)
    dsd = _load_hub(task)
    return datasets.DatasetDict({s: dsd[s] for s in splits}) if splits is not None else dsd


def tokenize_glue(dataset: datasets.DatasetDict | datasets.Dataset, tokenizer, task: str | TaskInfo,
                  max_seq_length: int = 128) -> datasets.DatasetDict | datasets.Dataset:
    """Tokenize single sentences or pairs with truncation and no padding.

    The text columns are replaced by the tokenizer's outputs; ``label`` and ``idx`` stay.
    Pad per batch with ``transformers.DataCollatorWithPadding``. ``map`` keeps its default
    caching: hub datasets are cached on disk; local (in-memory) ones are simply re-tokenized.
    """
    task = get_task(task)
    cols = list(task.input_columns)

    def encode(batch: dict) -> dict:
        return tokenizer(*(batch[c] for c in cols), truncation=True, max_length=max_seq_length)

    return dataset.map(encode, batched=True, remove_columns=cols, desc=f"Tokenizing {task.name}")
