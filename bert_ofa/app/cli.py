"""``bert-ofa``: finetune | evaluate | train | export | search | latency-table. Each subcommand's options come from
dataclasses (``HfArgumentParser``); ``bert-ofa <command> --help`` lists them.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Callable

DEMO_ARGS = [  # MiniLM-L6 on 2,000 SST-2 rows with the demo recipe: a few minutes on 2 CPU cores
    "--recipe", "demo", "--task_name", "sst2", "--output_dir", "outputs/demo", "--max_train_samples", "2000",
    "--max_seq_length", "64", "--teacher_epochs", "2", "--importance_samples", "128", "--disable_tqdm", "false",
    "--overwrite_output_dir", "true",  # the demo reruns from scratch
]


def _parse(types: tuple, argv: list[str], defaults: dict | None = None):
    from transformers import HfArgumentParser

    parser = HfArgumentParser(types)
    if defaults:
        parser.set_defaults(**defaults)
    return parser.parse_args_into_dataclasses(args=argv)


def _recipe_defaults(argv: list[str]) -> dict:
    """``--recipe NAME`` (else the default recipe) as argument defaults, the name included for the record."""
    import argparse

    from .args import recipe_defaults
    from .recipes import DEFAULT_RECIPE

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe", default=DEFAULT_RECIPE)
    return recipe_defaults(pre.parse_known_args(argv)[0].recipe)


def cmd_finetune(argv: list[str]) -> dict:
    from glue_tasks.finetune import FinetuneArguments, finetune
    from glue_tasks.prepare import GlueDataArguments

    args, data = _parse((FinetuneArguments, GlueDataArguments), argv)
    return finetune(args, data)


def cmd_evaluate(argv: list[str]) -> dict:
    from .jobs import EvaluateArguments, run_evaluate

    (args,) = _parse((EvaluateArguments,), argv)
    return run_evaluate(args)


def cmd_train(argv: list[str], finetune_teacher: bool = False) -> dict:
    """OFA training; with ``finetune_teacher`` (run_glue_ofa.py) a teacher is fine-tuned when needed."""
    from glue_tasks.prepare import GlueDataArguments
    from .args import OFAModelArguments, OFARunArguments
    from .pipeline import run_pipeline
    from ..training.trainer import OFATrainingArguments

    model, data, run, train = _parse((OFAModelArguments, GlueDataArguments, OFARunArguments, OFATrainingArguments),
                                     argv, _recipe_defaults(argv))
    model.finetune_teacher = model.finetune_teacher and finetune_teacher
    summary = run_pipeline(model, data, run, train)
    print(open(f"{train.output_dir}/results.md", encoding="utf-8").read())
    return {"output_dir": train.output_dir, "runtime_s": summary["runtime_s"]}


def cmd_export(argv: list[str]) -> dict:
    from .jobs import ExportArguments, run_export

    (args,) = _parse((ExportArguments,), argv)
    return {"output_dir": str(run_export(args))}


def cmd_search(argv: list[str]) -> dict:
    from .search_job import SearchArguments, run_search

    (args,) = _parse((SearchArguments,), argv)
    return run_search(args)


def cmd_latency_table(argv: list[str]) -> dict:
    from .jobs import LatencyTableArguments, run_latency_table

    (args,) = _parse((LatencyTableArguments,), argv)
    return run_latency_table(args)


COMMANDS: dict[str, Callable[[list[str]], dict]] = {
    "finetune": cmd_finetune, "evaluate": cmd_evaluate, "train": cmd_train, "export": cmd_export,
    "search": cmd_search, "latency-table": cmd_latency_table,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: bert-ofa {{{','.join(COMMANDS)}}} [options]   (bert-ofa <command> --help)\n\n{__doc__}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    result = COMMANDS[argv[0]](argv[1:])
    print(json.dumps(result, indent=2, default=str))
    return 0


def run_glue_ofa(argv: list[str] | None = None) -> int:
    """``run_glue_ofa.py``: the whole job; ``--demo`` fills in the built-in default (MiniLM-L6 on MRPC)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo = "--demo" in argv
    if demo:
        argv.remove("--demo")
        argv = DEMO_ARGS + argv  # later options win
    result = cmd_train(argv, finetune_teacher=True)
    if demo:  # the product at work: one subnet exported, scored and timed against the teacher
        from glue_tasks import get_task

        from .showcase import export_and_compare, showcase_markdown

        shown = export_and_compare(result["output_dir"])
        print(showcase_markdown(shown, list(get_task(shown["task"]).metric_names)))
        result["showcase"] = {k: shown[k] for k in ("folder", "speedup", "metrics")}
    print(json.dumps(result, indent=2, default=str))
    return 0
