"""Speed of the elastic supernet (issue: elastic supernet).

Prints ratios measured side by side in one run (runs interleaved, medians), and writes a
record to results/records/. Targets: converted largest vs original <= 1.05; a subnet inside
the supernet vs the same subnet extracted <= 1.10; extracted subnets' speedup vs FLOP ratio.

    python benchmarks/bench_elastic.py [--shapes minilm bert-base] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from transformers import BertConfig, BertForSequenceClassification

import bert_ofa as bo
from bert_ofa.records import write_record

SHAPES = {
    "minilm": dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}


def timed(model, batch) -> float:
    start = time.perf_counter()
    model(**batch)
    return time.perf_counter() - start


def compare(a, b, batch, repeats: int) -> tuple[float, float]:
    """Median seconds of a and b, runs interleaved so that machine noise hits both."""
    ta, tb = [], []
    with torch.inference_mode():
        for _ in range(2):  # warm-up: the first runs of a process pay for allocations
            timed(a, batch), timed(b, batch)
        for i in range(repeats):
            first, second = (a, b) if i % 2 == 0 else (b, a)
            t1, t2 = timed(first, batch), timed(second, batch)
            (ta, tb)[first is not a].append(t1)
            (ta, tb)[second is not a].append(t2)
    return statistics.median(ta), statistics.median(tb)


def run_shape(name: str, repeats: int, batches: list[tuple[int, int]]) -> list[dict]:
    torch.manual_seed(0)
    config = BertConfig(**SHAPES[name], num_labels=2)
    original = BertForSequenceClassification(config).eval()
    supernet = bo.Convert(bo.supernet(expand_ratio=[0.5], depth_mult=[0.5])).convert(copy.deepcopy(original))
    largest = bo.largest_subnet(supernet)
    subnets = {
        "width 0.5": bo.subnet_from_mults(supernet, 0.5, 1.0),
        "depth 0.5": bo.subnet_from_mults(supernet, 1.0, 0.5),
        "width 0.5 + depth 0.5": bo.subnet_from_mults(supernet, 0.5, 0.5),
    }
    rows = []
    for bsz, seq in batches:
        g = torch.Generator().manual_seed(0)
        batch = {"input_ids": torch.randint(1000, 20000, (bsz, seq), generator=g),
                 "attention_mask": torch.ones(bsz, seq, dtype=torch.long)}
        bo.set_active_subnet(supernet, largest)
        t_conv, t_orig = compare(supernet, original, batch, repeats)
        rows.append(dict(shape=name, batch=bsz, seq=seq, case="converted largest / original",
                         ratio=t_conv / t_orig, seconds=[t_conv, t_orig], target="<= 1.05"))
        print(f"{name} b{bsz} s{seq}: converted largest / original = {t_conv / t_orig:.3f} "
              f"({t_conv * 1e3:.1f} / {t_orig * 1e3:.1f} ms)", flush=True)
        full_flops = bo.count_flops(supernet, largest, seq)
        for label, sub in subnets.items():
            bo.set_active_subnet(supernet, sub)
            small = bo.extract_subnet(supernet)
            t_in, t_ext = compare(supernet, small, batch, repeats)
            _, t_full = compare(small, original, batch, max(3, repeats // 2))
            flop_ratio = full_flops / bo.count_flops(supernet, sub, seq)
            rows.append(dict(shape=name, batch=bsz, seq=seq, case=f"{label}: in supernet / extracted",
                             ratio=t_in / t_ext, seconds=[t_in, t_ext], target="<= 1.10"))
            rows.append(dict(shape=name, batch=bsz, seq=seq, case=f"{label}: speedup of extracted",
                             speedup=t_full / t_ext, flop_ratio=flop_ratio,
                             params=bo.count_params(supernet, sub), params_full=bo.count_params(supernet, largest)))
            print(f"{name} b{bsz} s{seq} {label}: in supernet / extracted = {t_in / t_ext:.3f}; "
                  f"extracted speedup {t_full / t_ext:.2f}x vs FLOP ratio {flop_ratio:.2f}x", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", nargs="+", default=["32x128", "1x128"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--record", default="results/records/bench_elastic.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [tuple(int(x) for x in b.split("x")) for b in args.batches]
    rows = [row for shape in args.shapes for row in run_shape(shape, args.repeats, batches)]
    write_record(args.record, "bench_elastic", rows, repeats=args.repeats)
    print(f"record: {args.record}")


if __name__ == "__main__":
    main()
