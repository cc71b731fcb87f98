"""Speed of exported subnets (issue: subnet export).

1. Exported models vs the same shape built directly: a stock export vs the stock class built
   from its config (random weights), a compact export vs the extracted subnet (same modules,
   no wrapper). Target: ratio <= 1.02.
2. Exported subnets vs the exported full model, in PyTorch and ONNX Runtime, next to their
   FLOP ratios.
Runs are interleaved and medians reported (see bench_elastic.compare). Writes a record.

    python benchmarks/bench_export.py [--shapes minilm bert-base] [--repeats 5] [--batches 1x128 32x128]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import warnings
from pathlib import Path

import torch
from bench_elastic import SHAPES, compare
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

import bert_ofa as bo
from bert_ofa.export.hf import export_subnet
from bert_ofa.records import write_record


class OrtRunner:
    """``model(**batch)``-style callable running an ONNX file on a fixed batch."""

    def __init__(self, path: Path, batch: dict, threads: int | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.feed = {i.name: batch[i.name].numpy() for i in self.session.get_inputs()}

    def __call__(self, **_):
        return self.session.run(None, self.feed)


def export(supernet, subnet, folder: Path, onnx: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no tokenizer for random weights
        out = export_subnet(supernet, subnet, folder, onnx=onnx)
    return out, AutoModelForSequenceClassification.from_pretrained(out).eval()


def run_shape(name: str, repeats: int, batches: list[tuple[int, int]], onnx: bool, threads: int | None,
              tmp: Path) -> list[dict]:
    torch.manual_seed(0)
    config = BertConfig(**SHAPES[name], num_labels=2)
    supernet = bo.Convert(bo.supernet(expand_ratio=[0.5], depth_mult=[0.5])).convert(
        BertForSequenceClassification(config).eval())
    full = bo.largest_subnet(supernet)
    subnets = {
        "depth 0.5 (stock)": bo.subnet_from_mults(supernet, 1.0, 0.5),
        "width 0.5 (compact)": bo.subnet_from_mults(supernet, 0.5, 1.0),
        "width 0.5 + depth 0.5 (compact)": bo.subnet_from_mults(supernet, 0.5, 0.5),
    }
    full_dir, full_model = export(supernet, full, tmp / f"{name}-full", onnx)
    exported = {label: export(supernet, sub, tmp / f"{name}-{i}", onnx)
                for i, (label, sub) in enumerate(subnets.items())}
    rows = []
    for bsz, seq in batches:
        g = torch.Generator().manual_seed(0)
        batch = {"input_ids": torch.randint(1000, 20000, (bsz, seq), generator=g),
                 "attention_mask": torch.ones(bsz, seq, dtype=torch.long),
                 "token_type_ids": torch.zeros(bsz, seq, dtype=torch.long)}
        full_flops = bo.count_flops(supernet, full, seq)
        for label, (folder, model) in exported.items():
            sub = subnets[label]
            if "stock" in label:
                same = copy.deepcopy(model.config)
                reference, ref_name = BertForSequenceClassification(same).eval(), "stock class built directly"
            else:
                reference, ref_name = bo.extract_subnet(supernet, sub).eval(), "extracted subnet"
            t_exp, t_ref = compare(model, reference, batch, repeats)
            rows.append(dict(shape=name, batch=bsz, seq=seq, case=f"{label}: exported / {ref_name}",
                             ratio=t_exp / t_ref, seconds=[t_exp, t_ref], target="<= 1.02"))
            flop_ratio = full_flops / bo.count_flops(supernet, sub, seq)
            t_full, t_sub = compare(full_model, model, batch, repeats)
            row = dict(shape=name, batch=bsz, seq=seq, case=f"{label}: speedup vs full", flop_ratio=flop_ratio,
                       speedup_torch=t_full / t_sub, seconds_torch=[t_sub, t_full])
            msg = f"torch {t_full / t_sub:.2f}x"
            if onnx:
                o_full, o_sub = compare(OrtRunner(full_dir / "model.onnx", batch, threads),
                                        OrtRunner(folder / "model.onnx", batch, threads), batch, repeats)
                row.update(speedup_onnx=o_full / o_sub, seconds_onnx=[o_sub, o_full], onnx_vs_torch=o_sub / t_sub)
                msg += f", onnxruntime {o_full / o_sub:.2f}x (onnx/torch time {o_sub / t_sub:.2f})"
            rows.append(row)
            print(f"{name} b{bsz} s{seq} {label}: exported / {ref_name} = {t_exp / t_ref:.3f}; "
                  f"speedup vs full: {msg}; FLOP ratio {flop_ratio:.2f}x", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", nargs="+", default=["1x128", "32x128"])
    parser.add_argument("--threads", type=int, default=None, help="torch and onnxruntime threads")
    parser.add_argument("--no-onnx", action="store_true", help="PyTorch only (skips the ONNX exports)")
    parser.add_argument("--record", default="results/records/bench_export.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [tuple(int(x) for x in b.split("x")) for b in args.batches]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for shape in args.shapes
                for row in run_shape(shape, args.repeats, batches, not args.no_onnx, args.threads, Path(tmp))]
    write_record(args.record, "bench_export", rows, repeats=args.repeats)
    print(f"record: {args.record}")


if __name__ == "__main__":
    main()
