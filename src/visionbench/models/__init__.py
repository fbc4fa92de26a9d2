"""Model families; importing this package registers every variant (see ``_registry.py``).

Go through this package (not ``_registry``) to look models up: importing it is what registers the families.
"""

# One module per family; each registers its variants on import.
from visionbench.models import alexnet, cnn, detection, mlp, regnet, resnet, scratch_models, vgg, vit  # noqa: F401
from visionbench.models._registry import (
    ModelEntry,
    Recipe,
    create_model,
    get_entry,
    list_models,
    register_model,
)

__all__ = [
    "ModelEntry",
    "Recipe",
    "create_model",
    "get_entry",
    "list_models",
    "register_model",
]
