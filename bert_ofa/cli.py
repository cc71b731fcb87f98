"""``bert-ofa``: finetune | evaluate | train | export | search | latency-table. Each subcommand's options come from
dataclasses (``HfArgumentParser``); ``bert-ofa <command> --help`` lists them.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

DEMO_ARGS = [  # MiniLM-L6 on MRPC, a few minutes on 2 CPU cores
    "--task_name", "mrpc", "--output_dir", "outputs/demo_mrpc", "--max_train_samples", "1000",
    "--max_seq_length", "64", "--teacher_epochs", "2",
    # the default recipe (r4), shortened: one epoch of width, then two of depth
    "--n_epochs", "[[1], [3]]", "--importance_samples", "128", "--disable_tqdm", "false",
    "--overwrite_output_dir", "true",  # the demo reruns from scratch
]


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


def _evaluate(args: EvaluateArguments) -> dict:
    from .convert import set_active_subnet, subnet_from_mults
    from .finetune import evaluate_model
    from .persist import is_supernet_dir, load_supernet
    from .subnet import SubnetConfig

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
        from .records import atomic_write_text

        atomic_write_text(args.output_file, json.dumps(metrics, indent=2) + "\n")
    return metrics


def _parse(types: tuple, argv: list[str], defaults: dict | None = None):
    from transformers import HfArgumentParser

    parser = HfArgumentParser(types)
    if defaults:
        parser.set_defaults(**defaults)
    return parser.parse_args_into_dataclasses(args=argv)


def _recipe_defaults(argv: list[str]) -> dict:
    """``--recipe NAME`` (else the default recipe) as argument defaults, the name included for the record."""
    import argparse

    from .recipes import DEFAULT_RECIPE, recipe_settings

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe", default=DEFAULT_RECIPE)
    name = pre.parse_known_args(argv)[0].recipe
    return {**recipe_settings(name), "recipe": name}


def cmd_finetune(argv: list[str]) -> dict:
    from .finetune import FinetuneArguments, GlueDataArguments, finetune

    args, data = _parse((FinetuneArguments, GlueDataArguments), argv)
    return finetune(args, data)


def cmd_evaluate(argv: list[str]) -> dict:
    (args,) = _parse((EvaluateArguments,), argv)
    return _evaluate(args)


def cmd_train(argv: list[str], finetune_teacher: bool = False) -> dict:
    """OFA training; with ``finetune_teacher`` (run_glue_ofa.py) a teacher is fine-tuned when needed."""
    from .finetune import GlueDataArguments
    from .pipeline import OFAModelArguments, OFARunArguments, run_pipeline
    from .trainer import OFATrainingArguments

    model, data, run, train = _parse((OFAModelArguments, GlueDataArguments, OFARunArguments, OFATrainingArguments),
                                     argv, _recipe_defaults(argv))
    model.finetune_teacher = model.finetune_teacher and finetune_teacher
    summary = run_pipeline(model, data, run, train)
    print(open(f"{train.output_dir}/results.md", encoding="utf-8").read())
    return {"output_dir": train.output_dir, "runtime_s": summary["runtime_s"]}


def cmd_export(argv: list[str]) -> dict:
    from .persist import ExportArguments, run_export

    (args,) = _parse((ExportArguments,), argv)
    return {"output_dir": str(run_export(args))}


def cmd_search(argv: list[str]) -> dict:
    from .search import SearchArguments, run_search

    (args,) = _parse((SearchArguments,), argv)
    return run_search(args)


def cmd_latency_table(argv: list[str]) -> dict:
    from .latency import LatencyTableArguments, run_latency_table

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
    if "--demo" in argv:
        argv.remove("--demo")
        argv = DEMO_ARGS + argv  # later options win
    result = cmd_train(argv, finetune_teacher=True)
    print(json.dumps(result, indent=2, default=str))
    return 0
