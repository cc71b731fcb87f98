"""Latency of subnets on this device: measured, and a latency model fitted on measurements.

``measure_latency`` times the *extracted* subnet (what ships): median of timed forward
passes after a warm-up, on CPU with a given thread count or on CUDA with synchronisation.
``measure_latencies`` times many, each interleaved with a reference to cancel speed drift.
``build_latency_model`` measures random subnets (plus the largest and the smallest) and
fits non-negative least squares on shape features: any subnet's latency (ms) is then
predicted without running it (in microseconds). The model is cached as JSON, keyed by what
latency depends on (device, threads, dtype, batch, sequence length, model shape and space,
torch version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..core.convert import get_search_space
from ..core.extract import extract_subnet
from ..core.inputs import dummy_inputs
from ..core.sampling import corner_subnets, largest_subnet, smallest_subnet, spread_subnets
from ..core.space import SearchSpace
from ..core.subnet import SubnetConfig
from ..records import atomic_write_text, environment

logger = logging.getLogger(__name__)

# Per-subnet terms of a BERT forward pass with batch and sequence length fixed: embeddings /
# classifier (hidden, hidden^2), per-layer overhead and LayerNorms (layers, layers*hidden),
# attention (heads: softmax and QK/AV products; heads*hidden: Q, K, V, O projections) and
# the FFN (ffn: activation; ffn*hidden: the two projections). All are non-decreasing in every
# size, and the coefficients are >= 0, so a smaller subnet is never predicted slower.
FEATURES = ("const", "hidden", "hidden^2", "layers", "layers*hidden", "heads", "heads*hidden", "ffn", "ffn*hidden")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def feature_names(choices: dict[str, Sequence[int]] | None = None) -> tuple[str, ...]:
    """``FEATURES`` plus, per head / FFN choice above the smallest, "layers with heads >= c, times hidden".

    Those step features let each choice cost what it really costs: small matrix products
    are slower per FLOP than large ones, so latency is not linear in width, and a search
    drives straight to the narrow corners where a linear model is most wrong.
    """
    choices = choices or {}
    return FEATURES + tuple(f"layers*hidden with {dim}>={c}" for dim in ("heads", "ffn")
                            for c in sorted(choices.get(dim, ()))[1:])


def latency_features(subnet: SubnetConfig, choices: dict[str, Sequence[int]] | None = None) -> np.ndarray:
    """The regression features of ``subnet`` (``feature_names(choices)`` order); all non-decreasing in every size."""
    h, n_heads, n_ffn, depth = subnet.hidden, sum(subnet.heads), sum(subnet.ffn), subnet.depth
    base = [1, h, h * h, depth, depth * h, n_heads, n_heads * h, n_ffn, n_ffn * h]
    choices = choices or {}
    steps = [sum(v >= c for v in getattr(subnet, dim)) * h for dim in ("heads", "ffn")
             for c in sorted(choices.get(dim, ()))[1:]]
    return np.array(base + steps, dtype=np.float64)


def space_choices(space: SearchSpace) -> dict[str, list[int]]:
    return {"heads": sorted(space.heads), "ffn": sorted(space.ffn)}


@contextmanager
def num_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(threads)`` (unchanged if None), then restore."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _timer(model: nn.Module, inputs: dict, device: torch.device) -> Callable[[], float]:
    """A function that runs one forward pass and returns its seconds."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *_: None)

    @torch.inference_mode()
    def run() -> float:
        sync(device)  # on CUDA, time finished kernels, not queued launches
        start = time.perf_counter()
        model(**inputs)
        sync(device)
        return time.perf_counter() - start

    return run


def _extracted(model: nn.Module, subnet: SubnetConfig | None, device: torch.device, dtype: str) -> nn.Module:
    return extract_subnet(model, subnet).to(device=device, dtype=DTYPES[dtype]).eval()


def measure_latency(model: nn.Module, subnet: SubnetConfig | None = None, *, batch_size: int = 1, seq_len: int = 128,
                    device: str = "cpu", threads: int | None = None, dtype: str = "float32", warmup: int = 3,
                    repeats: int = 10) -> float:
    """Median milliseconds of one forward pass of the extracted ``subnet`` (default: the active one)."""
    dev = torch.device(device)
    small = _extracted(model, subnet, dev, dtype)
    inputs = dummy_inputs(small, batch_size, seq_len, pad_last=False, device=dev)
    run = _timer(small, inputs, dev)
    with num_threads(threads if dev.type == "cpu" else None):
        times = [run() for _ in range(warmup + repeats)][warmup:]
    return statistics.median(times) * 1e3


def _relative_latency(model: nn.Module, subnet: SubnetConfig, reference: Callable[[], float], inputs: dict,
                      device: torch.device, dtype: str, warmup: int, repeats: int) -> tuple[float, list[float]]:
    """Median ratio of ``subnet``'s time to the reference's, runs interleaved, and the reference's times.

    Machine speed drifts over seconds (frequency scaling, other jobs; on a GPU, the host's
    launch speed), which shows as whole stretches of subnets measured too slow. The
    drift hits both sides of an interleaved pair alike, so the ratio stays put.
    """
    return _relative_latency_of(_timer(_extracted(model, subnet, device, dtype), inputs, device), reference,
                                warmup, repeats)


def _relative_latency_of(run: Callable[[], float], reference: Callable[[], float], warmup: int,
                         repeats: int) -> tuple[float, list[float]]:
    ratios, ref_times = [], []
    for i in range(warmup + repeats):
        if i % 2 == 0:  # alternate which goes first
            t_ref, t = reference(), run()
        else:
            t, t_ref = run(), reference()
        if i >= warmup:
            ratios.append(t / t_ref)
            ref_times.append(t_ref)
    return statistics.median(ratios), ref_times


def measure_latencies(model: nn.Module, subnets: Sequence[SubnetConfig], *, batch_size: int = 1, seq_len: int = 128,
                      device: str = "cpu", threads: int | None = None, dtype: str = "float32", warmup: int = 3,
                      repeats: int = 10, seed: int = 0, progress: bool = False) -> list[float]:
    """Milliseconds of each extracted subnet, corrected for drift in the machine's speed.

    Each subnet is timed interleaved with the largest subnet (the reference), in a
    shuffled order; its latency is its median ratio to the reference times the
    reference's median over the whole call: each subnet at the run's typical speed.
    """
    if not subnets:
        return []
    dev = torch.device(device)
    reference = _extracted(model, largest_subnet(get_search_space(model)), dev, dtype)
    inputs = dummy_inputs(reference, batch_size, seq_len, pad_last=False, device=dev)
    order = list(range(len(subnets)))
    random.Random(seed).shuffle(order)  # e.g. fit and held-out subnets alternate, so that drift hits both alike
    ratios, ref_times = [0.0] * len(subnets), []
    with num_threads(threads if dev.type == "cpu" else None):
        run_reference = _timer(reference, inputs, dev)
        for i in tqdm(order, desc=f"latency on {device_name(device)}", disable=not progress):
            ratios[i], times = _relative_latency(model, subnets[i], run_reference, inputs, dev, dtype, warmup, repeats)
            ref_times += times
    return [r * statistics.median(ref_times) * 1e3 for r in ratios]


def compare_latency(reference: nn.Module, model: nn.Module, *, batch_size: int = 1, seq_len: int = 128,
                    device: str = "cpu", threads: int | None = None, warmup: int = 3,
                    repeats: int = 20) -> tuple[float, float]:
    """Milliseconds of ``reference`` and of ``model`` (two plain models, e.g. a teacher and an exported
    subnet), timed interleaved so that drift in the machine's speed hits both alike.

    Returns:
        ``(reference ms, model ms)``: the reference's median, and the median ratio times it.
    """
    dev = torch.device(device)
    reference, model = reference.to(dev).eval(), model.to(dev).eval()
    inputs = dummy_inputs(reference, batch_size, seq_len, pad_last=False, device=dev)
    with num_threads(threads if dev.type == "cpu" else None):
        ratio, ref_times = _relative_latency_of(_timer(model, inputs, dev), _timer(reference, inputs, dev),
                                                warmup, repeats)
    ref_ms = statistics.median(ref_times) * 1e3
    return ref_ms, ratio * ref_ms


def device_name(device: str) -> str:
    """The CPU model name, or the CUDA device's name: latency tables are per hardware."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return str(environment()["cpu"])


def latency_key(model: nn.Module, batch_size: int, seq_len: int, device: str = "cpu", threads: int | None = None,
                dtype: str = "float32") -> dict[str, Any]:
    """Everything a latency table depends on; a cached table with another key is rebuilt."""
    dev = torch.device(device)
    key = {
        "device": device_name(device), "device_type": dev.type,
        "threads": (threads or torch.get_num_threads()) if dev.type == "cpu" else None,
        "dtype": dtype, "batch_size": batch_size, "seq_len": seq_len, "torch": torch.__version__,
        "model_type": model.config.model_type, "model_class": type(model).__name__,
        "vocab_size": model.config.vocab_size, "space": get_search_space(model).to_dict(),
    }
    return json.loads(json.dumps(key))  # tuples -> lists, as read back from JSON


@dataclass
class LatencyModel:
    """Predicted latency (ms) = features . coef, fitted on this device's measurements."""

    key: dict[str, Any]
    coef: list[float]
    mape: float  # mean absolute percentage error on held-out measured subnets, in percent
    n_samples: int
    measurements: list[dict[str, Any]] = field(default_factory=list)  # {"subnet", "ms", "heldout"}
    choices: dict[str, list[int]] = field(default_factory=dict)  # head / FFN choices of the step features
    features: tuple[str, ...] = FEATURES
    cache_file: Optional[str] = field(default=None, compare=False)
    from_cache: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        self.features = feature_names(self.choices)
        if len(self.coef) != len(self.features):
            raise ValueError(f"latency model has {len(self.coef)} coefficients for {len(self.features)} features")

    def predict(self, subnet: SubnetConfig) -> float:
        """Predicted milliseconds of one forward pass of ``subnet``."""
        return float(latency_features(subnet, self.choices) @ np.asarray(self.coef))

    def min_latency(self, space: SearchSpace) -> float:
        """The least predicted latency in ``space``: the smallest subnet's (predictions are monotone)."""
        return self.predict(smallest_subnet(space))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cache_file"), data.pop("from_cache")
        return data | {"features": list(self.features)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LatencyModel":
        data = dict(data)
        data["features"] = tuple(data.get("features", FEATURES))
        want = feature_names(data.get("choices"))
        if data["features"] != want:
            raise ValueError(f"latency model features {data['features']} differ from this version's {want}")
        return cls(**data)

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatencyModel":
        model = cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        model.cache_file, model.from_cache = os.fspath(path), True
        return model


def fit_coefficients(subnets: list[SubnetConfig], ms: list[float],
                     choices: dict[str, Sequence[int]] | None = None) -> list[float]:
    """Non-negative least squares on relative errors (each row divided by its latency)."""
    from scipy.optimize import nnls

    x = np.stack([latency_features(s, choices) for s in subnets])
    y = np.asarray(ms, dtype=np.float64)
    # columns span ~1 to ~1e7: scale them for a well-conditioned solve (a step feature can be 0 throughout)
    scale = np.maximum(x.max(axis=0), 1e-12)
    coef, _ = nnls(x / scale / y[:, None], np.ones_like(y))
    return (coef / scale).tolist()


def mape(predicted: list[float], measured: list[float]) -> float:
    """Mean absolute percentage error, in percent."""
    p, m = np.asarray(predicted), np.asarray(measured)
    return float(np.mean(np.abs(p - m) / m) * 100)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/bert_ofa/latency`` (``~/.cache/...``): tables depend on the shape, not the weights."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bert_ofa" / "latency"


def cache_path(cache_dir: str | os.PathLike, key: dict[str, Any]) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"latency-{key['device_type']}-{digest}.json"


def build_latency_model(model: nn.Module, batch_size: int = 1, seq_len: int = 128, n_samples: int = 40, *,
                        device: str = "cpu", threads: int | None = None, dtype: str = "float32",
                        cache_dir: str | os.PathLike | None = None, seed: int = 0, rebuild: bool = False,
                        warmup: int = 3, repeats: int = 10, progress: bool = True) -> LatencyModel:
    """Measure ``n_samples`` subnets (largest, smallest, random) plus a quarter more held out; fit; cache.

    A cached model with the same key and at least ``n_samples`` samples is returned as is
    (``from_cache`` True). ``mape`` is measured on the held-out subnets, then the final
    fit uses every measurement.
    """
    if n_samples < 3:
        raise ValueError(f"n_samples must be >= 3 (largest, smallest and a random subnet), got {n_samples}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    key = latency_key(model, batch_size, seq_len, device, threads, dtype)
    path = cache_path(cache_dir, key) if cache_dir is not None else None
    if path is not None and path.is_file() and not rebuild:
        try:
            cached = LatencyModel.load(path)
        except (ValueError, KeyError, TypeError) as e:  # another version's file (JSONDecodeError is a ValueError)
            logger.warning("measuring again: cannot read the cached latency model %s (%s)", path, e)
        else:
            if cached.key == key and cached.n_samples >= n_samples and cached.choices == space_choices(
                    get_search_space(model)):  # an older, linear-only table is measured again
                return cached
    space = get_search_space(model)
    rng = random.Random(seed)
    n_corner, n_held = n_samples // 4, max(4, n_samples // 4)
    fit_set = [largest_subnet(space), smallest_subnet(space)] + spread_subnets(space, n_samples - 2 - n_corner, rng)
    fit_set += corner_subnets(space, n_corner, rng)
    heldout = spread_subnets(space, n_held - n_held // 2, rng) + corner_subnets(space, n_held // 2, rng)
    subnets = fit_set + heldout
    ms = measure_latencies(model, subnets, batch_size=batch_size, seq_len=seq_len, device=device,
                           threads=key["threads"], dtype=dtype, warmup=warmup, repeats=repeats, seed=seed,
                           progress=progress)
    n_fit = len(fit_set)
    choices = space_choices(space)
    coef = fit_coefficients(fit_set, ms[:n_fit], choices)
    error = mape([float(latency_features(s, choices) @ coef) for s in heldout], ms[n_fit:])
    result = LatencyModel(key=key, coef=fit_coefficients(subnets, ms, choices), mape=error, n_samples=n_samples,
                          choices=choices,
                          measurements=[{"subnet": s.to_dict(), "ms": t, "heldout": i >= n_fit}
                                        for i, (s, t) in enumerate(zip(subnets, ms))])
    logger.info("latency model on %s: MAPE %.1f%% on %d held-out subnets", key["device"], error, len(heldout))
    if path is not None:
        result.save(path)
        result.cache_file = os.fspath(path)
    return result


