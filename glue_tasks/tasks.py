"""One table of facts about the GLUE tasks (plus the AX diagnostic set).

Column names, label names (in order) and split names are those of the Hugging Face
hub dataset ``nyu-mll/glue``; directory names are those of the official GLUE download.

Metric names follow the GLUE paper / HF ``evaluate``'s ``glue`` metric. The main metric
follows the BERT paper's GLUE table (F1 for MRPC and QQP, Spearman for STS-B, Matthews
correlation for CoLA, accuracy elsewhere). AX is scored with Matthews correlation (the
GLUE paper's R3, the multi-class MCC); it has no public labels, so in practice it is
only predicted (with an MNLI model) for a GLUE submission.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskInfo:
    """Facts about one GLUE task."""

    name: str  # display name, e.g. "SST-2"
    hub_name: str  # config name on the hub: nyu-mll/glue, e.g. "sst2"
    dir_name: str  # directory in the official GLUE layout, e.g. "SST-2"
    input_columns: tuple[str, ...]  # hub column names: one (single sentence) or two (pair)
    label_names: tuple[str, ...]  # hub ClassLabel names in id order; () for regression
    metric_names: tuple[str, ...]
    main_metric: str
    eval_splits: tuple[str, ...] = ("validation",)
    test_splits: tuple[str, ...] = ("test",)
    train_split: str | None = "train"
    submission_files: tuple[str, ...] = ()  # GLUE submission file per test split
    symmetric: bool = False  # a pair task whose label does not depend on the sentences' order

    @property
    def is_regression(self) -> bool:
        return not self.label_names

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.input_columns) == 2

    @property
    def splits(self) -> tuple[str, ...]:
        """All splits in hub order (train, eval, test)."""
        train = (self.train_split,) if self.train_split else ()
        return train + self.eval_splits + self.test_splits

    @property
    def id2label(self) -> dict[int, str]:
        """Label id -> name; empty for regression (STS-B)."""
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in self.id2label.items()}

    @property
    def problem_type(self) -> str:
        """``problem_type`` for a transformers config."""
        return "regression" if self.is_regression else "single_label_classification"


_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")
_ACC = ("accuracy",)
_PAIR = ("sentence1", "sentence2")

TASKS: dict[str, TaskInfo] = {
    t.hub_name: t
    for t in (
        TaskInfo("CoLA", "cola", "CoLA", ("sentence",), ("unacceptable", "acceptable"),
                 ("matthews_correlation",), "matthews_correlation", submission_files=("CoLA.tsv",)),
        TaskInfo("SST-2", "sst2", "SST-2", ("sentence",), ("negative", "positive"),
                 _ACC, "accuracy", submission_files=("SST-2.tsv",)),
        TaskInfo("MRPC", "mrpc", "MRPC", _PAIR, ("not_equivalent", "equivalent"),
                 ("f1", "accuracy"), "f1", submission_files=("MRPC.tsv",), symmetric=True),
        TaskInfo("STS-B", "stsb", "STS-B", _PAIR, (),
                 ("pearson", "spearmanr"), "spearmanr", submission_files=("STS-B.tsv",), symmetric=True),
        TaskInfo("QQP", "qqp", "QQP", ("question1", "question2"), ("not_duplicate", "duplicate"),
                 ("f1", "accuracy"), "f1", submission_files=("QQP.tsv",), symmetric=True),
        TaskInfo("MNLI", "mnli", "MNLI", ("premise", "hypothesis"), _NLI3, _ACC, "accuracy",
                 eval_splits=("validation_matched", "validation_mismatched"),
                 test_splits=("test_matched", "test_mismatched"),
                 submission_files=("MNLI-m.tsv", "MNLI-mm.tsv")),
        TaskInfo("QNLI", "qnli", "QNLI", ("question", "sentence"), _NLI2, _ACC, "accuracy",
                 submission_files=("QNLI.tsv",)),
        TaskInfo("RTE", "rte", "RTE", _PAIR, _NLI2, _ACC, "accuracy", submission_files=("RTE.tsv",)),
        TaskInfo("WNLI", "wnli", "WNLI", _PAIR, ("not_entailment", "entailment"), _ACC, "accuracy",
                 submission_files=("WNLI.tsv",)),
        TaskInfo("AX", "ax", "diagnostic", ("premise", "hypothesis"), _NLI3,
                 ("matthews_correlation",), "matthews_correlation",
                 eval_splits=(), train_split=None, submission_files=("AX.tsv",)),
    )
}


def _key(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


_ALIASES = {_key(t.name): k for k, t in TASKS.items()} | {k: k for k in TASKS}


def get_task(name: str | TaskInfo) -> TaskInfo:
    """Look a task up by hub or GLUE name, case-insensitive (``"sst2"``, ``"SST-2"``, ...)."""
    if isinstance(name, TaskInfo):
        return name
    key = _ALIASES.get(_key(str(name)))
    if key is None:
        valid = ", ".join(f"{t.name} ({k})" for k, t in TASKS.items())
        raise ValueError(f"Unknown GLUE task {name!r}. Valid tasks: {valid}")
    return TASKS[key]
