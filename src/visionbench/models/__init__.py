"""Model families; importing this package registers every variant (see ``_registry.py``)."""

from visionbench.models._registry import (
    ModelEntry,
    Recipe,
    create_model,
    default_models,
    get_entry,
    list_models,
    register_model,
)

# One module per family; each registers its variants on import.
from visionbench.models import mlp, cnn  # noqa: E402,F401,I001
from visionbench.models import scratch_models  # noqa: E402,F401
from visionbench.models import resnet, regnet  # noqa: E402,F401
from visionbench.models import vit, alexnet, vgg  # noqa: E402,F401

__all__ = [
    "ModelEntry",
    "Recipe",
    "create_model",
    "default_models",
    "get_entry",
    "list_models",
    "register_model",
]
