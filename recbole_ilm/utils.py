"""Model and trainer lookup: the plugin's classes first, RecBole's otherwise."""

import os

from recbole.utils import get_model as recbole_get_model
from recbole.utils import get_trainer as recbole_get_trainer

from recbole_ilm.errors import ILMConfigError


def plugin_models():
    """Name -> class of every model this plugin adds to RecBole."""
    from recbole_ilm.model import PLUGIN_MODELS

    return dict(PLUGIN_MODELS)


def _recbole_model_file_exists(model_name):
    """Whether RecBole ships ``recbole/model/<kind>/<name>.py`` (checked on disk: importing RecBole's model
    packages to find out would pull optional dependencies such as lightgbm)."""
    import recbole.model

    root = os.path.dirname(recbole.model.__file__)
    return any(os.path.isfile(os.path.join(root, kind, model_name.lower() + ".py")) for kind in os.listdir(root))


def get_model(model_name):
    """The plugin model named ``model_name``, else RecBole's model of that name."""
    models = plugin_models()
    if model_name in models:
        return models[model_name]
    if _recbole_model_file_exists(model_name):
        try:
            return recbole_get_model(model_name)
        except ImportError as e:
            raise ILMConfigError(f"-m/--model: RecBole's {model_name} needs a package that is not installed: "
                                 f"{e.name} (pip install {e.name})") from None
        except AttributeError:
            pass  # the file exists but the class is spelled differently
    raise ILMConfigError(
        f"-m/--model: unknown model '{model_name}'. Plugin models: {', '.join(sorted(models))}; "
        f"or any RecBole model name, spelled as RecBole does (e.g. SASRec, GRU4Rec, BERT4Rec)"
    )


def get_trainer(model_type, model_name):
    """The plugin's trainer for plugin models, RecBole's (with checkpoint loading fixed) for the others."""
    from recbole_ilm.trainer import PLUGIN_TRAINERS
    from recbole_ilm.trainer.checkpoint import with_checkpoint_compat

    if model_name in PLUGIN_TRAINERS:
        return PLUGIN_TRAINERS[model_name]
    return with_checkpoint_compat(recbole_get_trainer(model_type, model_name))


def parse_set(values, label=None):
    """``key=value`` for every cell, or ``Label:key=value`` for the cells of one model label only."""
    import yaml

    out = {}
    for item in values or []:
        key, _, value = item.partition("=")
        scope, _, key = key.rpartition(":")
        if not scope or scope == label:
            out[key] = yaml.safe_load(value)
    return out
