"""The OFA training loop: progressive shrinking with distillation, on accelerate.

Every rank trains the same subnets at each step (sampling is seeded by the step), and
gradients are averaged once per step after all subnets' backward passes. Data order and
dropout are seeded by (seed, epoch / step, rank), so a resumed run ends with the same
weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from .checkpoint import find_checkpoint, list_checkpoints, load_checkpoint, load_extra_model, save_checkpoint
from .ofa import OFA
from .optim import make_optimizer
from .runtime import make_accelerator

logger = logging.getLogger(__name__)


@dataclass
class OFATrainingArguments:
    """Trainer options (the batch size, epochs and learning rates live in ``RunConfig``)."""

    output_dir: str = "outputs/ofa"
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"
    logging_steps: int = 20
    save_steps: int = 0
    save_total_limit: int = 2
    resume_from_checkpoint: str | None = None
    overwrite_output_dir: bool = False
    max_steps: int | None = None
    max_steps_per_epoch: int | None = None
    report_to: str = "none"
    disable_tqdm: bool = False

    def __post_init__(self) -> None:
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        if self.report_to not in ("none", "tensorboard"):
            raise ValueError(f"report_to must be 'none' or 'tensorboard', got {self.report_to!r}")
        if self.gradient_accumulation_steps < 1:
            raise ValueError("gradient_accumulation_steps must be >= 1")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, world: int = 1, rank: int = 0) -> list[list[int]]:
    """This rank's example indices per batch: a seeded shuffle; ranks split each global batch."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
    if world == 1:
        return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
    global_bs = batch_size * world  # drop the last partial global batch: every rank needs a batch
    return [perm[b + rank * batch_size: b + (rank + 1) * batch_size] for b in range(0, n - global_bs + 1, global_bs)]


def phase_lr(ofa: OFA, epoch: int, batch: int, steps_per_epoch: int, warmup_ratio: float) -> float:
    """Each phase starts at its own learning rate: linear warm-up, then linear decay to zero."""
    phase = ofa.schedule.phase_at(epoch)
    total = (phase.end_epoch - phase.start_epoch) * steps_per_epoch
    pos = (epoch - phase.start_epoch) * steps_per_epoch + batch
    warm = int(warmup_ratio * total)
    if pos < warm:
        return phase.learning_rate * (pos + 1) / warm
    return phase.learning_rate * max(0.0, (total - pos) / max(1, total - warm))


def train_ofa(ofa: OFA, train_dataset: Sequence[Any], collate_fn: Callable[[list[Any]], dict[str, torch.Tensor]],
              args: OFATrainingArguments,
              on_phase_end: Callable[[OFA, int], None] | None = None) -> dict[str, Any]:
    """Train ``ofa`` through its whole schedule; returns the final trainer state (its ``train_time_s``
    counts the training of earlier processes too when resumed, ``resumed_train_time_s`` only theirs)."""
    accelerator = make_accelerator(mixed_precision=args.mixed_precision)
    rank, world = accelerator.process_index, accelerator.num_processes
    ofa.to(accelerator.device)
    optimizer = accelerator.prepare(make_optimizer(ofa, ofa.schedule.phases[0].learning_rate, args.weight_decay))
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if world > 1:  # start from identical weights on every rank
        for p in ofa.model.parameters():
            torch.distributed.broadcast(p.data, src=0)
    run = ofa.run_config
    bs = run.train_batch_size
    n = len(train_dataset)
    steps_per_epoch = len(epoch_batches(n, bs, run.seed, 0, world, rank))
    if args.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, args.max_steps_per_epoch)
    state = {"epoch": 0, "batch": 0, "global_step": 0, "updates": 0}
    old = list_checkpoints(args.output_dir) if not args.resume_from_checkpoint else []
    if old and not args.overwrite_output_dir:  # a later "latest" resume would mix two runs
        raise ValueError(f"{args.output_dir} holds checkpoints of an earlier run ({old[-1].name}); continue it with "
                         "--resume_from_checkpoint latest, or start over with --overwrite_output_dir")
    if accelerator.is_main_process:
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
    accelerator.wait_for_everyone()
    if args.resume_from_checkpoint:
        path = find_checkpoint(args.resume_from_checkpoint, args.output_dir)
        state = load_checkpoint(path, ofa, optimizer)
        if state.get("teacher_refreshed_at"):  # the teacher is the supernet as it was at that stage's start
            load_extra_model(path, "teacher", ofa.refresh_teacher())
        logger.info("resumed from %s at epoch %d batch %d", path, state["epoch"], state["batch"])
    # training seconds summed over every process of this run (a resumed one adds to its checkpoint's)
    state["resumed_train_time_s"] = state.get("train_time_s", 0.0)
    clock = time.perf_counter()

    def train_time() -> float:
        return state["resumed_train_time_s"] + time.perf_counter() - clock

    writer = _writer(args) if accelerator.is_main_process else None
    total = ofa.num_epochs * steps_per_epoch
    bar = tqdm(total=total, initial=state["global_step"], disable=args.disable_tqdm or not accelerator.is_main_process,
               desc="OFA")
    ofa.train()
    accum = args.gradient_accumulation_steps

    def checkpoint() -> None:
        if accelerator.is_main_process:
            extra = {"teacher": ofa.teacher} if state.get("teacher_refreshed_at") else None
            save_checkpoint(args.output_dir, state["global_step"], ofa, optimizer,
                            {**state, "phase": ofa.current_phase.index, "train_time_s": train_time()},
                            keep=args.save_total_limit,
                            extra_models=extra)
        accelerator.wait_for_everyone()

    stopped = False
    for epoch in range(state["epoch"], ofa.num_epochs):
        ofa.set_epoch(epoch)
        if hasattr(train_dataset, "set_epoch"):  # e.g. SwappedPairs draws this epoch's sentence orders
            train_dataset.set_epoch(epoch)
        batches = epoch_batches(n, bs, run.seed, epoch, world, rank)[:steps_per_epoch]
        for b in range(state["batch"], len(batches)):
            if args.max_steps is not None and state["global_step"] >= args.max_steps:
                stopped = True
                break
            batch = {k: v.to(accelerator.device) for k, v in collate_fn([train_dataset[i] for i in batches[b]]).items()}
            step = state["global_step"]
            torch.manual_seed(hash((run.seed, rank, step)) % (2 ** 63))  # dropout: reproducible on resume
            subnets = ofa.sample_subnets(step)
            losses: dict[str, torch.Tensor] = {}  # summed on the device; read only when logged
            for subnet in subnets:
                ofa.set_active_subnet(subnet)
                with accelerator.autocast():
                    ofa(**batch)
                    loss = ofa.calc_distill_loss()
                accelerator.backward(loss / accum)
                for k, v in ofa.last_loss_parts.items():
                    losses[k] = losses.get(k, 0.0) + v / len(subnets)
            if (b + 1) % accum == 0 or b + 1 == len(batches):
                if world > 1:
                    for p in params:
                        if p.grad is not None:
                            torch.distributed.all_reduce(p.grad)
                            p.grad /= world
                if args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, args.max_grad_norm)
                lr = phase_lr(ofa, epoch, b, len(batches), args.warmup_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                state["updates"] += 1
            state["global_step"] = step + 1
            state["batch"] = b + 1
            bar.update(1)
            if step % args.logging_steps == 0:
                losses = {k: float(v) for k, v in losses.items()}
                bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()} | {"phase": ofa.current_phase.index})
                if writer is not None:
                    for k, v in losses.items():
                        writer.add_scalar(f"loss/{k}", v, step)
            if args.save_steps and state["global_step"] % args.save_steps == 0:
                checkpoint()
        if stopped:
            break
        state["epoch"], state["batch"] = epoch + 1, 0
        if epoch + 1 == ofa.current_phase.end_epoch:  # a phase boundary
            if ofa.refreshes_teacher_at(epoch + 1):
                ofa.refresh_teacher()
                state["teacher_refreshed_at"] = epoch + 1
                logger.info("epoch %d starts a new stage: the largest subnet is now the teacher", epoch + 1)
            checkpoint()
            if on_phase_end is not None:
                on_phase_end(ofa, ofa.current_phase.index)
    bar.close()
    if writer is not None:
        writer.close()
    ofa.eval()
    state["train_time_s"] = train_time()
    return state


def _writer(args: OFATrainingArguments):
    if args.report_to != "tensorboard":
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # tensorboard is optional
        raise ImportError("report_to='tensorboard' needs `pip install tensorboard`") from e
    return SummaryWriter(log_dir=f"{args.output_dir}/runs")
