"""Progressive shrinking: ``RunConfig`` and the schedule of phases and subnet choices.

Stages follow ``elastic_order`` (default: largest, then width = heads and FFN together,
then depth, then hidden size if the space has it). ``n_epochs`` gives each stage's phase
boundaries as cumulative epoch counts, e.g. ``[[1], [2, 3], [4, 5]]``. Each phase of a
stage opens more of that stage's smaller choices (as in the once-for-all paper); the
dimensions of earlier stages stay fully elastic, those of later stages at full size.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from typing import Any

from ..core.sampling import largest_of, sample_subnet, smallest_subnet, uniform_subnet
from ..core.space import SearchSpace
from ..core.subnet import SubnetConfig

STAGE_DIMS = {"largest": (), "width": ("heads", "ffn"), "depth": ("depth",), "hidden": ("hidden",)}


@dataclass
class RunConfig:
    """The seed's training config, in PyTorch.

    ``init_learning_rate``: one float for every phase, or one per phase (flat, or nested like
    ``n_epochs``). ``dynamic_batch_size``: subnets trained per step, one int or one per stage
    (the ``largest`` stage always trains one). ``elastic_depth``: allowed depths (must be in
    the space; default: the space's). ``sampling``: ``sandwich`` (largest + smallest + random)
    or ``random``. ``uniform_prob``: the chance that a random subnet is *uniform*, one width for
    every layer with heads and FFN scaled together (DynaBERT's width x depth grid, the shapes
    users most often pick); otherwise each layer draws its own heads and FFN width.
    """

    train_batch_size: int = 32
    n_epochs: list[list[int]] | None = None
    init_learning_rate: float | list[Any] = 2e-5
    dynamic_batch_size: int | list[int] = 3
    total_images: int | None = None
    elastic_depth: list[int] | None = None
    elastic_order: list[str] | None = None
    sampling: str = "sandwich"
    uniform_prob: float = 0.0
    seed: int = 42

    def __post_init__(self) -> None:
        if self.train_batch_size < 1:
            raise ValueError(f"RunConfig.train_batch_size must be >= 1, got {self.train_batch_size}")
        if self.sampling not in ("sandwich", "random"):
            raise ValueError(f"RunConfig.sampling must be 'sandwich' or 'random', got {self.sampling!r}")
        if not 0.0 <= self.uniform_prob <= 1.0:
            raise ValueError(f"RunConfig.uniform_prob is a probability in [0, 1], got {self.uniform_prob}")
        if self.elastic_order is not None:
            bad = [s for s in self.elastic_order if s not in STAGE_DIMS]
            if bad or not self.elastic_order:
                raise ValueError(f"RunConfig.elastic_order has unknown stages {bad}; choose from {list(STAGE_DIMS)}")
        if self.n_epochs is not None:
            flat = [e for stage in self.n_epochs for e in stage]
            if not flat or any(not stage for stage in self.n_epochs) or any(
                    b <= a for a, b in zip([0] + flat, flat)):
                raise ValueError(
                    "RunConfig.n_epochs must be non-empty lists of strictly increasing cumulative epoch "
                    f"boundaries, one list per stage, e.g. [[1], [2, 3], [4, 5]]; got {self.n_epochs}")
        if isinstance(self.dynamic_batch_size, int):
            if self.dynamic_batch_size < 1:
                raise ValueError("RunConfig.dynamic_batch_size must be >= 1")
        elif any(k < 1 for k in self.dynamic_batch_size):
            raise ValueError(f"RunConfig.dynamic_batch_size values must be >= 1, got {self.dynamic_batch_size}")


@dataclass(frozen=True)
class Phase:
    index: int  # global phase index
    stage: str
    stage_index: int
    phase_in_stage: int  # 1-based
    phases_in_stage: int
    start_epoch: int
    end_epoch: int  # exclusive
    learning_rate: float
    subnets_per_step: int
    space: SearchSpace = field(compare=False)  # the choices open in this phase


def _open(choices: tuple[int, ...], phase: int, phases: int) -> tuple[int, ...]:
    """The largest ``1 + ceil(phase / phases * (n - 1))`` choices."""
    n = 1 + math.ceil(phase / phases * (len(choices) - 1))
    return choices[-n:]


class ProgressiveSchedule:
    """Maps epochs to phases, and steps to the subnets trained (same on every rank)."""

    def __init__(self, run_config: RunConfig, space: SearchSpace):
        self.config, self.space = run_config, space
        if run_config.elastic_depth is not None:
            bad = sorted(set(run_config.elastic_depth) - set(space.depth))
            if bad:
                raise ValueError(f"RunConfig.elastic_depth {bad} not in the search space's depths {list(space.depth)}")
            space = dataclasses.replace(space, depth=tuple(sorted(set(run_config.elastic_depth) | {space.num_layers})))
            self.space = space
        order = run_config.elastic_order or self.default_order(space)
        # a dimension no stage opens would keep its smaller choices in the space, never trained
        missing = [s for s in self.default_order(space)[1:] if s not in order]
        if missing:
            raise ValueError(f"RunConfig.elastic_order {order} never opens the search space's {missing} choices, so "
                             f"those subnets would be untrained: add {missing} to elastic_order (and a stage to "
                             "n_epochs), or drop those choices from the space")
        n_epochs = run_config.n_epochs or [[i + 1] for i in range(len(order))]
        if len(n_epochs) != len(order):
            raise ValueError(f"RunConfig.n_epochs has {len(n_epochs)} stages but elastic_order {order} "
                             f"has {len(order)}")
        flat_count = sum(len(s) for s in n_epochs)
        lrs = self._learning_rates(run_config.init_learning_rate, n_epochs, flat_count)
        per_stage = run_config.dynamic_batch_size
        per_stage = [per_stage] * len(order) if isinstance(per_stage, int) else list(per_stage)
        if len(per_stage) != len(order):
            raise ValueError(f"RunConfig.dynamic_batch_size has {len(per_stage)} values for {len(order)} stages")
        self.order = order
        self.phases: list[Phase] = []
        start = 0
        for s, (stage, bounds) in enumerate(zip(order, n_epochs)):
            for p, end in enumerate(bounds, start=1):
                open_space = self._space_for(order, s, p, len(bounds))
                k = 1 if stage == "largest" else per_stage[s]
                self.phases.append(Phase(len(self.phases), stage, s, p, len(bounds), start, end,
                                         lrs[len(self.phases)], k, open_space))
                start = end
        self.num_epochs = start

    @staticmethod
    def default_order(space: SearchSpace) -> list[str]:
        order = ["largest"]
        if len(space.heads) > 1 or len(space.ffn) > 1:
            order.append("width")
        if len(space.depth) > 1:
            order.append("depth")
        if len(space.hidden) > 1:
            order.append("hidden")
        return order

    @staticmethod
    def _learning_rates(lr: float | list[Any], n_epochs: list[list[int]], count: int) -> list[float]:
        if isinstance(lr, (int, float)):
            return [float(lr)] * count
        flat = [float(x) for item in lr for x in (item if isinstance(item, (list, tuple)) else [item])]
        if len(flat) != count:
            raise ValueError(f"RunConfig.init_learning_rate needs one value per phase ({count}: {n_epochs}), got {lr}")
        return flat

    def _space_for(self, order: list[str], stage: int, phase: int, phases: int) -> SearchSpace:
        space, opened = self.space, {}
        for s, name in enumerate(order):
            for dim in STAGE_DIMS[name]:
                choices = getattr(space, dim)
                opened[dim] = choices if s < stage else _open(choices, phase, phases) if s == stage else choices[-1:]
        for dim in ("heads", "ffn", "depth", "hidden"):
            opened.setdefault(dim, getattr(space, dim)[-1:])
        return dataclasses.replace(space, **opened)

    def phase_at(self, epoch: int) -> Phase:
        for phase in self.phases:
            if epoch < phase.end_epoch:
                return phase
        raise ValueError(f"epoch {epoch} is past the schedule's {self.num_epochs} epochs")

    def subnets_for_step(self, epoch: int, global_step: int) -> list[SubnetConfig]:
        """The subnets trained at this step: seeded by (seed, step), so every rank agrees."""
        phase = self.phase_at(epoch)
        space = phase.space
        if phase.stage == "largest":
            return [largest_of(space)]
        rng = random.Random(f"{self.config.seed}-{global_step}")
        k = phase.subnets_per_step
        subnets: list[SubnetConfig] = []
        if self.config.sampling == "sandwich":
            subnets = [largest_of(space), smallest_subnet(space)][:k]
        while len(subnets) < k:
            uniform = rng.random() < self.config.uniform_prob
            subnets.append(uniform_subnet(space, rng) if uniform else sample_subnet(space, rng))
        return subnets
