"""Model families; importing this package registers every variant (see ``_registry.py``)."""

# One module per family; each registers its variants on import.
from visionbench.models import alexnet, cnn, mlp, regnet, resnet, scratch_models, vgg, vit  # noqa: F401
from visionbench.models._registry import (
    ModelEntry,
    Recipe,
    create_model,
    default_models,
    get_entry,
    list_models,
    register_model,
)

__all__ = [
    "ModelEntry",
    "Recipe",
    "create_model",
    "default_models",
    "get_entry",
    "list_models",
    "register_model",
]
