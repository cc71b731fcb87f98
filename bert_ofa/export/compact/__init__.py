"""The compact model type ``bert_ofa_compact``: exported subnets the stock classes cannot express.

Importing this package registers the type with the transformers Auto classes, so exported
folders load without ``trust_remote_code`` wherever bert_ofa is installed. The two module
files are also copied into every compact export (with ``auto_map`` in its config.json), so
``from_pretrained(folder, trust_remote_code=True)`` works where bert_ofa is not installed.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .configuration_ofa_compact import OfaCompactConfig
from .modeling_ofa_compact import (
    OfaCompactForSequenceClassification,
    OfaCompactModel,
    OfaCompactPreTrainedModel,
    apply_resize_plan,
)

MODEL_TYPE = OfaCompactConfig.model_type
REMOTE_CODE_FILES: tuple[Path, ...] = tuple(
    Path(__file__).with_name(name) for name in ("configuration_ofa_compact.py", "modeling_ofa_compact.py")
)
AUTO_MAP = {
    "AutoConfig": "configuration_ofa_compact.OfaCompactConfig",
    "AutoModel": "modeling_ofa_compact.OfaCompactModel",
    "AutoModelForSequenceClassification": "modeling_ofa_compact.OfaCompactForSequenceClassification",
}


def register() -> None:
    """Register the compact type with AutoConfig, AutoModel and AutoModelForSequenceClassification."""
    AutoConfig.register(MODEL_TYPE, OfaCompactConfig, exist_ok=True)
    AutoModel.register(OfaCompactConfig, OfaCompactModel, exist_ok=True)
    AutoModelForSequenceClassification.register(OfaCompactConfig, OfaCompactForSequenceClassification, exist_ok=True)


register()

__all__ = [
    "OfaCompactConfig", "OfaCompactModel", "OfaCompactForSequenceClassification", "OfaCompactPreTrainedModel",
    "apply_resize_plan", "register", "MODEL_TYPE", "REMOTE_CODE_FILES", "AUTO_MAP",
]
