"""bert_ofa: Once-For-All compression of BERT-family models (PyTorch / Hugging Face)."""

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
from .counting import active_subnet, count_flops, count_params
from .extract import extract_subnet
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
]
