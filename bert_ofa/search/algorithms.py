"""Hardware-aware subnet search under latency, parameter and FLOP constraints.

``regularized_evolution`` (aging evolution, Real et al. 2019) maximizes one objective;
``nsga2`` (non-dominated sorting + crowding distance, Deb et al. 2002) returns a Pareto
front of several objectives, all maximized (pass minus the latency). Objectives are plain
callables. Every candidate is made feasible before it is evaluated (``repair`` shrinks it;
one that cannot be repaired is dropped), so no evaluated or returned subnet breaks a
constraint. ``run_search`` is the ``bert-ofa search`` command.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from torch import nn

from ..core.counting import count_flops, count_params
from ..core.sampling import smallest_subnet, spread_subnets
from ..core.space import SearchSpace, depth_layers
from ..core.subnet import SubnetConfig
from .accuracy import subnet_key
from .latency import LatencyModel

logger = logging.getLogger(__name__)
Values = tuple[float, ...]


class InfeasibleConstraintError(ValueError):
    """No subnet in the search space meets a constraint."""


def memoize(fn: Callable[[SubnetConfig], object]) -> Callable[[SubnetConfig], object]:
    """Cache ``fn`` by subnet (SubnetConfig is not hashable)."""
    cache: dict[str, object] = {}

    def wrapped(subnet: SubnetConfig):
        key = subnet_key(subnet)
        if key not in cache:
            cache[key] = fn(subnet)
        return cache[key]

    return wrapped


@dataclass
class Constraint:
    """``measure(subnet) <= limit``. ``measure`` must not decrease when any size grows."""

    name: str
    limit: float
    measure: Callable[[SubnetConfig], float]
    unit: str = ""

    def ok(self, subnet: SubnetConfig) -> bool:
        return self.measure(subnet) <= self.limit


def make_constraints(model: nn.Module, latency_model: LatencyModel | None = None, *, latency_ms: float | None = None,
                     max_params: float | None = None, max_flops: float | None = None,
                     seq_len: int = 128) -> list[Constraint]:
    """Constraints on predicted latency, parameters (``count_params``) and FLOPs (``count_flops``)."""
    out = []
    if latency_ms is not None:
        if latency_model is None:
            raise ValueError("latency_ms needs a latency model (bert_ofa.search.latency.build_latency_model)")
        out.append(Constraint("latency_ms", latency_ms, memoize(latency_model.predict), "ms (predicted)"))
    if max_params is not None:
        out.append(Constraint("max_params", max_params, memoize(lambda s: count_params(model, s)), "parameters"))
    if max_flops is not None:
        out.append(Constraint("max_flops", max_flops, memoize(lambda s: count_flops(model, s, seq_len)),
                              f"FLOPs per sequence of {seq_len}"))
    return out


def feasible(subnet: SubnetConfig, constraints: Iterable[Constraint]) -> bool:
    return all(c.ok(subnet) for c in constraints)


def check_feasible(space: SearchSpace, constraints: Iterable[Constraint]) -> None:
    """Raise ``InfeasibleConstraintError`` if even the smallest subnet (the least of every measure) fails."""
    def num(v: float) -> str:  # counts in full (1e7 parameters would print as 1e+07 with :g)
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    smallest = smallest_subnet(space)
    for c in constraints:
        least = c.measure(smallest)
        if least > c.limit:
            raise InfeasibleConstraintError(
                f"{c.name}={num(c.limit)} cannot be met: the smallest subnet in the search space needs {num(least)} "
                f"{c.unit}, the least achievable. Raise {c.name} to at least {num(least)}.")


def _resize(values: Sequence[int], depth: int) -> list[int]:
    """Per-layer values for another depth, each new layer taking the value at its relative position."""
    return [values[j * len(values) // depth] for j in range(depth)]


def _make(space: SearchSpace, heads: list[int], ffn: list[int], hidden: int) -> SubnetConfig:
    return SubnetConfig(depth_layers(space.num_layers, len(heads)), heads, ffn, hidden)


def mutate(space: SearchSpace, subnet: SubnetConfig, rng: random.Random, prob: float = 0.2) -> SubnetConfig:
    """Resample depth, each layer's heads and FFN width, and hidden, each with probability ``prob``.

    If nothing changed, one of them is changed, so that no evaluation is spent on a copy of the parent.
    """
    depth = rng.choice(space.depth) if rng.random() < prob else subnet.depth
    heads = [rng.choice(space.heads) if rng.random() < prob else h for h in _resize(subnet.heads, depth)]
    ffn = [rng.choice(space.ffn) if rng.random() < prob else f for f in _resize(subnet.ffn, depth)]
    hidden = rng.choice(space.hidden) if rng.random() < prob else subnet.hidden
    child = _make(space, heads, ffn, hidden)
    genes = [(name, j) for name, n in (("depth", 1), ("hidden", 1), ("heads", depth), ("ffn", depth))
             if len(getattr(space, name)) > 1 for j in range(n)]
    if child != subnet or not genes:  # (a space of one subnet)
        return child
    name, j = rng.choice(genes)
    values = {"depth": [depth], "hidden": [hidden], "heads": heads, "ffn": ffn}[name]
    values[j] = rng.choice([c for c in getattr(space, name) if c != values[j]])
    if name == "depth":
        heads, ffn = _resize(heads, values[0]), _resize(ffn, values[0])
    return _make(space, heads, ffn, values[0] if name == "hidden" else hidden)


def crossover(space: SearchSpace, a: SubnetConfig, b: SubnetConfig, rng: random.Random) -> SubnetConfig:
    """Uniform crossover: depth and hidden from either parent, each layer's sizes from either (aligned by position)."""
    depth = rng.choice((a.depth, b.depth))
    from_a = zip(_resize(a.heads, depth), _resize(a.ffn, depth))
    from_b = zip(_resize(b.heads, depth), _resize(b.ffn, depth))
    layers = [rng.choice(pair) for pair in zip(from_a, from_b)]
    return _make(space, [h for h, _ in layers], [f for _, f in layers], rng.choice((a.hidden, b.hidden)))


def _smaller(choices: Sequence[int], value: int) -> int | None:
    below = [c for c in choices if c < value]
    return below[-1] if below else None


def repair(space: SearchSpace, subnet: SubnetConfig, constraints: Sequence[Constraint],
           rng: random.Random) -> SubnetConfig | None:
    """Shrink random dimensions one step at a time until every constraint holds; None if impossible."""
    while not feasible(subnet, constraints):
        moves = [("depth", None)] if _smaller(space.depth, subnet.depth) else []
        moves += [("hidden", None)] if _smaller(space.hidden, subnet.hidden) else []
        moves += [("heads", j) for j, h in enumerate(subnet.heads) if _smaller(space.heads, h)]
        moves += [("ffn", j) for j, f in enumerate(subnet.ffn) if _smaller(space.ffn, f)]
        if not moves:
            return None
        what, j = rng.choice(moves)
        heads, ffn, hidden = list(subnet.heads), list(subnet.ffn), subnet.hidden
        if what == "depth":
            depth = _smaller(space.depth, subnet.depth)
            heads, ffn = _resize(heads, depth), _resize(ffn, depth)
        elif what == "hidden":
            hidden = _smaller(space.hidden, hidden)
        elif what == "heads":
            heads[j] = _smaller(space.heads, heads[j])
        else:
            ffn[j] = _smaller(space.ffn, ffn[j])
        subnet = _make(space, heads, ffn, hidden)
    return subnet


@dataclass
class SearchResult:
    """The best subnet (first objective), the non-dominated front and every evaluated candidate."""

    best: SubnetConfig
    best_values: Values
    front: list[tuple[SubnetConfig, Values]]
    history: list[tuple[SubnetConfig, Values]] = field(repr=False)


class _Evaluator:
    """Objective values once per subnet, in evaluation order (the history)."""

    def __init__(self, objective: Callable[[SubnetConfig], float | Sequence[float]]):
        self.objective, self.values, self.history = objective, {}, []

    def __call__(self, subnet: SubnetConfig) -> Values:
        key = subnet_key(subnet)
        if key not in self.values:
            value = self.objective(subnet)
            self.values[key] = tuple(float(v) for v in value) if isinstance(value, Sequence) else (float(value),)
            self.history.append((subnet, self.values[key]))
        return self.values[key]

    def result(self) -> SearchResult:
        front = pareto_front(self.history)
        best, values = max(self.history, key=lambda item: item[1])  # first objective, then the next ones
        return SearchResult(best, values, front, self.history)


def _initial(space: SearchSpace, constraints: Sequence[Constraint], rng: random.Random, size: int,
             seeds: Iterable[SubnetConfig]) -> list[SubnetConfig]:
    """``seeds`` then random subnets (half of uniform width, see ``spread_subnets``), repaired, no duplicates."""
    population, keys = [], set()
    for sub in [*seeds, *spread_subnets(space, 4 * size, rng)]:
        sub = repair(space, sub, constraints, rng)
        if sub is not None and subnet_key(sub) not in keys:
            keys.add(subnet_key(sub))
            population.append(sub)
        if len(population) >= size:
            break
    if not population:
        raise InfeasibleConstraintError("no subnet meets the constraints (repair failed from every start)")
    return population


def regularized_evolution(space: SearchSpace, objective: Callable[[SubnetConfig], float],
                          constraints: Sequence[Constraint] = (), *, population: int = 20, cycles: int = 200,
                          sample_size: int = 5, mutation_prob: float = 0.2, seed: int = 0,
                          initial: Iterable[SubnetConfig] = ()) -> SearchResult:
    """Aging evolution: the best of a random sample is mutated; the child replaces the oldest member."""
    rng, evaluate = random.Random(seed), _Evaluator(objective)
    alive = deque(_initial(space, constraints, rng, population, initial))
    for sub in alive:
        evaluate(sub)
    for _ in range(cycles):
        parent = max(rng.sample(list(alive), min(sample_size, len(alive))), key=evaluate)
        child = repair(space, mutate(space, parent, rng, mutation_prob), constraints, rng)
        if child is None:
            continue
        evaluate(child)
        alive.append(child)
        if len(alive) > population:
            alive.popleft()
    return evaluate.result()


def dominates(a: Values, b: Values) -> bool:
    """``a`` is at least as good everywhere and better somewhere (all objectives maximized)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def non_dominated_sort(values: Sequence[Values]) -> list[list[int]]:
    """Indices by front: front 0 is non-dominated, front 1 is dominated only by front 0, ..."""
    dominated_by = [[j for j in range(len(values)) if dominates(values[i], values[j])] for i in range(len(values))]
    count = [sum(dominates(values[j], values[i]) for j in range(len(values))) for i in range(len(values))]
    fronts, current = [], [i for i, c in enumerate(count) if c == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def crowding_distance(values: Sequence[Values], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance of each member of ``front`` (infinite at the extremes)."""
    distance = {i: 0.0 for i in front}
    for m in range(len(values[front[0]])):
        ordered = sorted(front, key=lambda i: values[i][m])
        span = values[ordered[-1]][m] - values[ordered[0]][m]
        distance[ordered[0]] = distance[ordered[-1]] = float("inf")
        for prev, i, nxt in zip(ordered, ordered[1:], ordered[2:]):
            if span > 0:
                distance[i] += (values[nxt][m] - values[prev][m]) / span
    return distance


def pareto_front(items: Sequence[tuple[SubnetConfig, Values]]) -> list[tuple[SubnetConfig, Values]]:
    """The non-dominated items, in their order."""
    return [items[i] for i in sorted(non_dominated_sort([v for _, v in items])[0])] if items else []


def nsga2(space: SearchSpace, objectives: Callable[[SubnetConfig], Sequence[float]],
          constraints: Sequence[Constraint] = (), *, population: int = 20, generations: int = 10,
          mutation_prob: float = 0.2, crossover_prob: float = 0.9, seed: int = 0,
          initial: Iterable[SubnetConfig] = ()) -> SearchResult:
    """NSGA-II; ``front`` is the non-dominated set of everything evaluated."""
    rng, evaluate = random.Random(seed), _Evaluator(objectives)
    pop = _initial(space, constraints, rng, population, initial)
    for _ in range(generations):
        values = [evaluate(s) for s in pop]
        rank, crowd = {}, {}
        for r, front in enumerate(non_dominated_sort(values)):
            rank.update(dict.fromkeys(front, r))
            crowd.update(crowding_distance(values, front))

        def tournament() -> SubnetConfig:
            i, j = rng.randrange(len(pop)), rng.randrange(len(pop))
            return pop[min((i, j), key=lambda k: (rank[k], -crowd[k]))]

        keys, children = {subnet_key(s) for s in pop}, []
        for _ in range(20 * population):
            if len(children) >= population:
                break
            a, b = tournament(), tournament()
            child = crossover(space, a, b, rng) if rng.random() < crossover_prob else a
            child = repair(space, mutate(space, child, rng, mutation_prob), constraints, rng)
            if child is not None and subnet_key(child) not in keys:
                keys.add(subnet_key(child))
                children.append(child)
        merged = pop + children
        values = [evaluate(s) for s in merged]
        pop = []
        for front in non_dominated_sort(values):  # whole fronts, then the least crowded of the last one
            crowd = crowding_distance(values, front)
            pop += [merged[i] for i in sorted(front, key=lambda i: -crowd[i])][: population - len(pop)]
            if len(pop) >= population:
                break
    for sub in pop:
        evaluate(sub)
    return evaluate.result()


