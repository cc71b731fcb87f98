"""Hardware-aware search on a trained supernet, on this machine's CPU (issue 6's real run).

    python results/run_search_glue.py --task mrpc [--supernet outputs/ofa/mrpc/supernet] [--batch_sizes 1 32]

For each batch size: measure the teacher-shaped largest subnet, set the latency budget to
``--budget_fraction`` (0.5) of it, run ``bert-ofa search`` (NSGA-II on held-out training-slice
scores vs a latency model fitted here), then score the chosen subnet and every DynaBERT grid
subnet on dev. Writes results/records/search_<task>_b<batch>.json and results/search_<task>_b<batch>.png;
results/make_tables.py renders results/search.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil

import torch
from transformers import AutoTokenizer

from bert_ofa.core.counting import active_subnet
from glue_tasks.prepare import evaluate_model
from bert_ofa.search.latency import measure_latency
from bert_ofa.export.supernet_dir import load_supernet
from bert_ofa.records import write_record
from bert_ofa.app.search_job import SearchArguments, run_search
from bert_ofa.core.subnet import SubnetConfig
from glue_tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--supernet", default=None, help="default: outputs/ofa/<task>/supernet")
    parser.add_argument("--output_root", default="outputs/search")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--budget_fraction", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--heldout_samples", type=int, default=256)
    parser.add_argument("--records", default="results/records")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    task = get_task(args.task)
    supernet = args.supernet or os.path.join("outputs", "ofa", task.hub_name, "supernet")
    model = load_supernet(supernet)
    tokenizer = AutoTokenizer.from_pretrained(supernet)
    dev: dict[str, dict] = {}
    scores = None  # held-out scores do not depend on the batch size: reuse them across runs
    for bs in args.batch_sizes:
        teacher_ms = measure_latency(model, None, batch_size=bs, seq_len=128, threads=args.threads, repeats=20)
        out = os.path.join(args.output_root, f"{task.hub_name}_b{bs}")
        os.makedirs(out, exist_ok=True)
        if scores and not os.path.exists(os.path.join(out, "heldout_scores.json")):
            shutil.copy(scores, out)
        search = SearchArguments(supernet=supernet, task_name=task.hub_name, output_dir=out,
                                 latency_ms=args.budget_fraction * teacher_ms, threads=args.threads, batch_size=bs,
                                 population=args.population, generations=args.generations,
                                 heldout_samples=args.heldout_samples)
        summary = run_search(search)
        scores = os.path.join(out, "heldout_scores.json")
        pareto = json.loads(open(os.path.join(out, "pareto.json"), encoding="utf-8").read())
        for ref in pareto["references"]:  # the grid's dev scores, to set the chosen subnet against
            key = json.dumps(ref["subnet"], sort_keys=True)
            if key not in dev:  # the same for every batch size
                with active_subnet(model, SubnetConfig.from_dict(ref["subnet"])):
                    dev[key] = evaluate_model(model, task, None, 128, 64, None, tokenizer=tokenizer)
            ref["dev_metrics"] = dev[key]
        shutil.copy(os.path.join(out, "pareto.png"), os.path.join("results", f"search_{task.hub_name}_b{bs}.png"))
        write_record(os.path.join(args.records, f"search_{task.hub_name}_b{bs}.json"), "glue_search",
                     {"teacher_latency_ms": teacher_ms, "summary": summary, "pareto": pareto},
                     task=task.hub_name, batch_size=bs, threads=args.threads, torch_threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
