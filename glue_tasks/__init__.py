"""GLUE tasks: task table, data loading, tokenization and metrics."""
from .data import GlueUnavailableError, glue_features, load_glue, read_glue_file, tokenize_glue
from .metrics import compute_metrics, predictions_to_labels
from .tasks import TASKS, TaskInfo, get_task

__all__ = [
    "TASKS", "TaskInfo", "get_task", "load_glue", "read_glue_file", "glue_features",
    "tokenize_glue", "compute_metrics", "predictions_to_labels", "GlueUnavailableError",
]
