"""Paper models, one file per paper, registered by name (see ``actrec.models.registry``).

Importing a paper's model module (``mfst``, ``derecouple``, ``rpe_stdt``, ``vit``, ``ctn``, ``epam``,
``epam_backbones``, ``epam_net`` below) registers its variants, so ``import actrec.models`` is enough for
``list_models()`` / ``create_model(name)`` to see them.
"""

from actrec.models import ctn, derecouple, epam, epam_backbones, epam_net, mfst, rpe_stdt, vit
from actrec.models.registry import (
    UnknownModelError,
    build_model,
    create_model,
    is_model,
    list_models,
    model_class,
    model_config,
    register_model,
    tiny_overrides,
)

# model.name of a config that names no model (actrec.config.from_flat): MFST-Base, the first paper's base model.
DEFAULT_MODEL = "mfst_base"

__all__ = [
    "DEFAULT_MODEL",
    "UnknownModelError",
    "build_model",
    "create_model",
    "ctn",
    "derecouple",
    "epam",
    "epam_backbones",
    "epam_net",
    "is_model",
    "list_models",
    "mfst",
    "model_class",
    "model_config",
    "register_model",
    "rpe_stdt",
    "tiny_overrides",
    "vit",
]
