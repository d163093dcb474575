"""Model and trainer lookup by convention (as RecBole and RecBole-GNN do): the plugin's classes first, RecBole's
otherwise.

* A plugin model ``Name`` is the class ``Name`` in ``recbole_ilm/model/<name lowercased>.py``: adding a model is
  adding that file (and its ``properties/model/<Name>.yaml``); nothing else registers it.
* Its trainer is ``<Name>Trainer`` from :mod:`recbole_ilm.trainer` if that exists, else the trainer of its base
  class: every frozen-LLM model (a :class:`~recbole_ilm.model.base.FrozenLLMRecommender`) gets
  :class:`~recbole_ilm.trainer.ILMTrainer`, which runs the phases the model declares.
"""

import importlib
import os

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_ilm.errors import ILMConfigError

_MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
_NOT_MODELS = {"__init__", "base"}


def plugin_model_names():
    """Module names of the plugin's model files (one model per file)."""
    return sorted(f[:-3] for f in os.listdir(_MODEL_DIR) if f.endswith(".py") and f[:-3] not in _NOT_MODELS)


def plugin_model(model_name):
    """The plugin's model class ``model_name`` (from ``model/<model_name lowercased>.py``), or None."""
    if not isinstance(model_name, str) or model_name.lower() not in plugin_model_names():
        return None
    module = importlib.import_module(f"recbole_ilm.model.{model_name.lower()}")
    cls = getattr(module, model_name, None)
    return cls if isinstance(cls, type) else None


def plugin_models():
    """Name -> class of every model this plugin adds to RecBole."""
    models = {}
    for name in plugin_model_names():
        module = importlib.import_module(f"recbole_ilm.model.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, type) and attr.lower() == name and value.__module__ == module.__name__:
                models[attr] = value
    return models


def _recbole_model_file_exists(model_name):
    """Whether RecBole ships ``recbole/model/<kind>/<name>.py`` (checked on disk: importing RecBole's model
    packages to find out would pull optional dependencies such as lightgbm)."""
    import recbole.model

    root = os.path.dirname(recbole.model.__file__)
    return any(os.path.isfile(os.path.join(root, kind, model_name.lower() + ".py")) for kind in os.listdir(root))


def get_model(model_name):
    """The plugin model named ``model_name``, else RecBole's model of that name."""
    model = plugin_model(model_name)
    if model is not None:
        return model
    if _recbole_model_file_exists(model_name):
        try:
            return recbole_get_model(model_name)
        except ImportError as e:
            raise ILMConfigError(f"-m/--model: RecBole's {model_name} needs a package that is not installed: "
                                 f"{e.name} (pip install {e.name})") from None
        except AttributeError:
            pass  # the file exists but the class is spelled differently
    raise ILMConfigError(
        f"-m/--model: unknown model '{model_name}'. Plugin models: {', '.join(sorted(plugin_models()))}; "
        f"or any RecBole model name, spelled as RecBole does (e.g. SASRec, GRU4Rec, BERT4Rec)"
    )


def get_trainer(model_type, model_name):
    """The plugin's trainer for plugin models (by name, else by base class), RecBole's (with safe checkpoint
    loading) for the others."""
    from recbole_ilm import trainer as trainers
    from recbole_ilm.model.base import FrozenLLMRecommender
    from recbole_ilm.trainer.checkpoint import with_checkpoint_compat

    model = plugin_model(model_name)
    if model is None:
        return with_checkpoint_compat(recbole_get_trainer(model_type, model_name))
    for cls in model.__mro__:
        own = getattr(trainers, f"{cls.__name__}Trainer", None)
        if own is not None:
            return own
        if cls is FrozenLLMRecommender:
            return trainers.ILMTrainer
    raise ILMConfigError(f"plugin model {model_name} has no trainer: add {model_name}Trainer to recbole_ilm.trainer "
                         f"or derive the model from FrozenLLMRecommender")
