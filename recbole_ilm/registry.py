"""Make RecBole's own entry points find the plugin (done by ``import recbole_ilm``; RecBole's files are untouched).

RecBole looks models up by scanning its own ``recbole.model`` package, so after ``import recbole_ilm`` these names,
in the RecBole modules that hold them, are replaced by the plugin's versions, which resolve plugin models first
and fall back to RecBole's originals for everything else:

* ``get_model`` / ``get_trainer`` (``recbole.utils``, and where RecBole's config and quick start imported them);
* ``Config`` in ``recbole.quick_start`` (the plugin's subclass: its YAML defaults and option checks);
* ``create_dataset`` / ``data_preparation`` (``recbole.data`` and quick start: prompt dataloaders for plugin
  models, RecBole's for the others);
* ``load_data_and_model`` (``recbole.quick_start``: reloads plugin checkpoints, and any checkpoint under torch>=2.6).

:func:`unregister` restores RecBole's originals.
"""

import importlib

_ORIGINALS = {}


def _targets():
    from recbole_ilm import quick_start
    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.lookup import get_model, get_trainer

    return [
        ("recbole.utils", "get_model", get_model),
        ("recbole.utils.utils", "get_model", get_model),
        ("recbole.utils", "get_trainer", get_trainer),
        ("recbole.utils.utils", "get_trainer", get_trainer),
        ("recbole.config.configurator", "get_model", get_model),
        ("recbole.data", "create_dataset", create_dataset),
        ("recbole.data", "data_preparation", data_preparation),
        ("recbole.data.utils", "data_preparation", data_preparation),
        ("recbole.quick_start.quick_start", "Config", Config),
        ("recbole.quick_start.quick_start", "get_model", get_model),
        ("recbole.quick_start.quick_start", "get_trainer", get_trainer),
        ("recbole.quick_start.quick_start", "create_dataset", create_dataset),
        ("recbole.quick_start.quick_start", "data_preparation", data_preparation),
        ("recbole.quick_start.quick_start", "load_data_and_model", quick_start.load_data_and_model),
        ("recbole.quick_start", "load_data_and_model", quick_start.load_data_and_model),
    ]


def register():
    """Point RecBole's lookups at the plugin (idempotent)."""
    for module_name, attr, replacement in _targets():
        module = importlib.import_module(module_name)
        key = (module_name, attr)
        if key not in _ORIGINALS:
            _ORIGINALS[key] = getattr(module, attr)
        setattr(module, attr, replacement)


def unregister():
    """Give RecBole its own functions back."""
    for (module_name, attr), original in _ORIGINALS.items():
        setattr(importlib.import_module(module_name), attr, original)
    _ORIGINALS.clear()
