"""bert_ofa: Once-For-All compression of BERT-family models (PyTorch / Hugging Face).

Layers, lowest first: ``core`` (elastic modules, architecture table, search space, subnets, convert),
``training`` (distillation, progressive shrinking, the OFA wrapper, the trainer), ``search`` (latency,
accuracy, algorithms), ``export`` (HF folders, the compact type, ONNX, the hub); ``glue_tasks`` (GLUE
data, metrics, preparation, teacher fine-tuning) and ``app`` (arguments, recipes, the job, the CLI)
sit on top. Importing the package reads no data set and starts no process.
"""

from .app.args import recipe_configs
from .app.jobs import ExportArguments, run_export
from .app.recipes import DEFAULT_RECIPE, RECIPES, Recipe
from .core.arch import ARCHS, SUPPORTED_MODEL_TYPES, ArchSpec, Slot
from .core.convert import Convert, get_active_subnet, get_search_space, set_active_subnet
from .core.counting import active_subnet, count_flops, count_params
from .core.extract import extract_subnet
from .core.importance import Importance, compute_importance, permute_model, reorder_by_importance
from .core.sampling import largest_subnet, sample_subnet, smallest_subnet, subnet_from_mults
from .core.space import SearchSpace, SupernetConfig, depth_layers, supernet
from .core.subnet import SubnetConfig, SubnetError
from .export import compact  # registers bert_ofa_compact with the transformers Auto classes
from .export.hf import export_subnet
from .export.hub import push_to_hub
from .export.supernet_dir import load_supernet, save_supernet
from .training.distill import DistillConfig
from .training.ofa import OFA
from .training.schedule import ProgressiveSchedule, RunConfig
from .training.trainer import OFATrainingArguments, train_ofa

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
    "RECIPES", "DEFAULT_RECIPE", "Recipe", "recipe_configs", "compact",
]
