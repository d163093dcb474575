"""Named variants: ``properties/variants/<Name>.yaml`` holds ``model: <Model>`` plus the options that make the
variant (e.g. ILM-rand = ILM with ``phase1_epochs: 0``). The benchmark, the phase-1 comparison, chat training and
``run_recbole_ilm.py --variant <Name>`` all read them from there; a plain model name is its own variant."""

import os

import yaml

from recbole_ilm.errors import ILMConfigError
from recbole_ilm.resources import resource_dir


def variant_dir():
    return os.path.join(resource_dir("properties"), "variants")


def variant_names():
    return sorted(f[:-5] for f in os.listdir(variant_dir()) if f.endswith(".yaml"))


def profile_file(name):
    """``properties/profiles/<name>.yaml`` (e.g. ``paper``: paper-size models and schedules for GPUs)."""
    folder = os.path.join(resource_dir("properties"), "profiles")
    path = os.path.join(folder, f"{name}.yaml")
    if not os.path.isfile(path):
        names = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))
        raise ILMConfigError(f"--profile: unknown profile '{name}'; profiles: {', '.join(names)}")
    return path


def resolve_variant(name, models=None):
    """``(model name, {option: value})`` of a variant, or ``(name, {})`` for a model name in ``models`` (any name
    when ``models`` is None: the model lookup reports unknown ones)."""
    path = os.path.join(variant_dir(), f"{name}.yaml")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            options = yaml.safe_load(f) or {}
        if "model" not in options:
            raise ILMConfigError(f"variant file '{path}' must name its model (model: ILM)")
        return options.pop("model"), options
    if models is None or name in models:
        return name, {}
    raise ILMConfigError(f"unknown variant '{name}'; variants: {', '.join(variant_names())}, or a model name "
                         f"({', '.join(sorted(models))})")
