"""Cost of one OFA training step (issue: OFA training).

Targets: an OFA step with k subnets and a teacher costs <= 1.15x the sum of k plain steps of
those subnets (extracted, label loss) plus one teacher forward; its peak memory stays within
1.3x that of a plain fine-tuning step of the largest subnet plus the teacher's weights.
Times are interleaved medians in one run; memory is the peak RSS (Linux VmHWM) of a fresh
subprocess per measurement, above the RSS before any model was built.

    python benchmarks/bench_ofa_step.py [--shape minilm] [--batch 32] [--seq 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time

import torch
from transformers import BertConfig, BertForSequenceClassification

import bert_ofa as bo
from bert_ofa.records import write_record

SHAPES = {
    "minilm": dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}


def setup(shape: str, batch: int, seq: int):
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(BertConfig(**SHAPES[shape], num_labels=2)).eval()
    student = bo.Convert(bo.supernet(expand_ratio=[0.25, 0.5, 0.75], depth_mult=[0.5])).convert(copy.deepcopy(teacher))
    ofa = bo.OFA(student, bo.RunConfig(n_epochs=[[1], [2], [3]]), bo.DistillConfig(teacher_model=teacher))
    ofa.train()
    space = ofa.space
    subnets = [bo.largest_subnet(space), bo.smallest_subnet(space), bo.subnet_from_mults(space, 0.5, 1.0)]
    g = torch.Generator().manual_seed(0)
    data = {"input_ids": torch.randint(1000, 20000, (batch, seq), generator=g),
            "attention_mask": torch.ones(batch, seq, dtype=torch.long), "labels": torch.randint(0, 2, (batch,))}
    return ofa, teacher, subnets, data


def ofa_step(ofa, subnets, data, optimizer) -> None:
    for sub in subnets:
        ofa.set_active_subnet(sub)
        ofa(**data)
        ofa.calc_distill_loss().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def plain_step(model, data, optimizer) -> None:
    model(**data).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_time(shape: str, batch: int, seq: int, repeats: int) -> dict:
    ofa, teacher, subnets, data = setup(shape, batch, seq)
    opt = torch.optim.AdamW([p for p in ofa.parameters() if p.requires_grad], lr=1e-9)
    plain = [bo.extract_subnet(ofa.model, s).train() for s in subnets]
    plain_opts = [torch.optim.AdamW(m.parameters(), lr=1e-9) for m in plain]
    inputs = {k: v for k, v in data.items() if k != "labels"}

    def new_batch():  # a fresh tensor each step, as a data loader gives: the teacher cache must miss
        return {k: v.clone() for k, v in data.items()}

    runs = {"ofa": [], "plain": [], "teacher": []}
    for i in range(repeats + 1):  # the first round warms up
        t_ofa = timed(lambda: ofa_step(ofa, subnets, new_batch(), opt))
        t_plain = sum(timed(lambda m=m, o=o: plain_step(m, data, o)) for m, o in zip(plain, plain_opts))
        with torch.no_grad():
            t_teacher = timed(lambda: teacher(**inputs))
        if i:
            runs["ofa"].append(t_ofa), runs["plain"].append(t_plain), runs["teacher"].append(t_teacher)
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {"ofa_step_s": med["ofa"], "plain_steps_s": med["plain"], "teacher_forward_s": med["teacher"],
            "ratio": med["ofa"] / (med["plain"] + med["teacher"]), "k": len(subnets), "target": "<= 1.15"}


def _status_bytes(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def child(mode: str, shape: str, batch: int, seq: int) -> None:
    """Peak RSS (bytes) of two steps above the RSS before building models; printed as JSON."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # reset the peak (VmHWM) left by imports
    base = _status_bytes("VmRSS")
    ofa, teacher, subnets, data = setup(shape, batch, seq)
    teacher_bytes = sum(p.numel() * p.element_size() for p in teacher.parameters())
    if mode == "ofa":
        opt = torch.optim.AdamW([p for p in ofa.parameters() if p.requires_grad], lr=1e-9)
        step = lambda: ofa_step(ofa, subnets, data, opt)  # noqa: E731
    else:
        model = bo.extract_subnet(ofa.model, subnets[0]).train()
        del ofa, teacher  # the plain run holds one model only
        opt = torch.optim.AdamW(model.parameters(), lr=1e-9)
        step = lambda: plain_step(model, data, opt)  # noqa: E731
    for _ in range(2):
        step()
    peak = _status_bytes("VmHWM")
    print(json.dumps({"peak_bytes": peak - base, "teacher_bytes": teacher_bytes}))


def measure_memory(shape: str, batch: int, seq: int) -> dict:
    out = {}
    for mode in ("ofa", "plain"):
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--shape", shape, "--batch", str(batch),
                               "--seq", str(seq)], capture_output=True, text=True, check=True)
        out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    budget = out["plain"]["peak_bytes"] + out["ofa"]["teacher_bytes"]
    return {"ofa_peak_mb": out["ofa"]["peak_bytes"] / 2**20, "plain_peak_mb": out["plain"]["peak_bytes"] / 2**20,
            "teacher_mb": out["ofa"]["teacher_bytes"] / 2**20, "ratio": out["ofa"]["peak_bytes"] / budget,
            "target": "<= 1.3"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="minilm", choices=list(SHAPES))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["ofa", "plain"])
    parser.add_argument("--record", default="results/records/bench_ofa_step.json")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.shape, args.batch, args.seq)
    speed = measure_time(args.shape, args.batch, args.seq, args.repeats)
    print(f"OFA step ({speed['k']} subnets + teacher) / (plain steps + one teacher forward) = {speed['ratio']:.3f} "
          f"({speed['ofa_step_s']:.2f}s vs {speed['plain_steps_s']:.2f}s + {speed['teacher_forward_s']:.2f}s)")
    memory = measure_memory(args.shape, args.batch, args.seq)
    print(f"peak memory: OFA / (plain largest step + teacher weights) = {memory['ratio']:.3f} "
          f"({memory['ofa_peak_mb']:.0f} MB vs {memory['plain_peak_mb']:.0f} + {memory['teacher_mb']:.0f} MB)")
    write_record(args.record, "bench_ofa_step", {"speed": speed, "memory": memory},
                 shape=args.shape, batch=args.batch, seq=args.seq, repeats=args.repeats)


if __name__ == "__main__":
    main()
