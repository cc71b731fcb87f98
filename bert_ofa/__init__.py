"""bert_ofa: Once-For-All compression of BERT-family models (PyTorch / Hugging Face)."""

from . import compact  # registers bert_ofa_compact with the transformers Auto classes
from .arch import ARCHS, SUPPORTED_MODEL_TYPES, ArchSpec, Slot
from .convert import (
    Convert,
    get_active_subnet,
    get_search_space,
    largest_subnet,
    sample_subnet,
    set_active_subnet,
    smallest_subnet,
    subnet_from_mults,
)
from .distill import DistillConfig
from .importance import Importance, compute_importance, permute_model, reorder_by_importance
from .ofa import OFA
from .schedule import ProgressiveSchedule, RunConfig
from .trainer import OFATrainingArguments, train_ofa
from .counting import active_subnet, count_flops, count_params
from .export import export_subnet
from .extract import extract_subnet
from .hub import push_to_hub
from .recipes import DEFAULT_RECIPE, RECIPES, recipe_configs
from .persist import ExportArguments, load_supernet, run_export, save_supernet
from .space import SearchSpace, SupernetConfig, depth_layers, supernet
from .subnet import SubnetConfig, SubnetError

__version__ = "0.1.0"

__all__ = [
    "ARCHS", "SUPPORTED_MODEL_TYPES", "ArchSpec", "Slot",
    "Convert", "supernet", "SupernetConfig", "SearchSpace", "depth_layers",
    "SubnetConfig", "SubnetError",
    "set_active_subnet", "get_active_subnet", "get_search_space", "active_subnet",
    "largest_subnet", "smallest_subnet", "sample_subnet", "subnet_from_mults",
    "extract_subnet", "count_params", "count_flops",
    "OFA", "RunConfig", "DistillConfig", "ProgressiveSchedule", "OFATrainingArguments", "train_ofa",
    "export_subnet", "push_to_hub", "ExportArguments", "run_export", "save_supernet", "load_supernet",
    "Importance", "compute_importance", "permute_model", "reorder_by_importance",
    "RECIPES", "DEFAULT_RECIPE", "recipe_configs",
]
