"""Checkpoint files: the plugin's format, safe reading, atomic writing. Imports nothing of the plugin above it.

A checkpoint is data, never code. Two formats are read:

* the plugin's own (``format: recbole-ilm/1``): tensors and plain data only (the config as the dict of options the
  run was given), loaded with ``torch.load(weights_only=True)``;
* RecBole's (e.g. SASRec trained through this plugin, or a BPR whose embeddings feed ILM): they pickle RecBole's
  ``Config``, with pickle protocol 4, which torch's ``weights_only`` reader cannot parse. They are read with a
  restricted unpickler that resolves exactly the globals such a file needs (:data:`ALLOWED_GLOBALS`: RecBole's
  ``Config`` and enums, tensor rebuilding, numpy scalars) and may *call* only the harmless ones among them
  (:data:`CALLABLE_GLOBALS`). Anything else (``os.system``, ``builtins.eval``, any other class) is refused with
  an error that names it, before it runs.

Full unpickling (which can run any code in the file) happens only on explicit opt-in: ``trusted=True`` in code, or
the environment variable ``RECBOLE_ILM_TRUST_CHECKPOINTS=1`` for files you made yourself.
"""

import json
import os
import pickle
import types

import torch

from recbole_ilm.cache import atomic_output
from recbole_ilm.errors import ILMConfigError

FORMAT = "recbole-ilm/1"
TRUST_ENV = "RECBOLE_ILM_TRUST_CHECKPOINTS"

# (module, name) a RecBole checkpoint may reference; classes among them are only created with NEWOBJ/BUILD
# (``cls.__new__`` then ``__dict__`` update), never called, unless they are in CALLABLE_GLOBALS too.
_RECBOLE_CLASSES = {
    ("recbole.config.configurator", "Config"),
    ("recbole_ilm.config", "Config"),
    ("yaml.loader", "FullLoader"),  # RecBole's Config keeps its YAML loader class (referenced, never called)
}
_ENUMS = {("recbole.utils.enum_type", name) for name in
          ("ModelType", "InputType", "EvaluatorType", "FeatureType", "FeatureSource", "KGDataLoaderState")}
CALLABLE_GLOBALS = _ENUMS | {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "device"),
    ("torch", "Size"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
}
_TORCH_DTYPES = {("torch", name) for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                                              "int8", "uint8", "bool")}
_NUMPY_DTYPES = {("numpy", name) for name in ("dtypes.Float64DType", "dtypes.Float32DType", "dtypes.Int64DType")}
ALLOWED_GLOBALS = _RECBOLE_CLASSES | CALLABLE_GLOBALS | _TORCH_DTYPES | _NUMPY_DTYPES


MODEL_MODULES = ("recbole.model.", "recbole_ilm.model.")


class RefusedGlobal(pickle.UnpicklingError):
    pass


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its REDUCE can be checked
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module.startswith(MODEL_MODULES):  # RecBole's Config keeps the model class (referenced, never called)
            obj = super().find_class(module, name)
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
                return obj
        raise RefusedGlobal(f"{module}.{name}")

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is allowed for allowed in _callables()):
            raise RefusedGlobal(f"a call of {getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}")
        self.stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce


_CALLABLES = []


def _callables():
    """The objects named by :data:`CALLABLE_GLOBALS` that exist in this environment (resolved once)."""
    if not _CALLABLES:
        import importlib
        import warnings

        for module, name in sorted(CALLABLE_GLOBALS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    obj = importlib.import_module(module)
                for part in name.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError):
                continue
            _CALLABLES.append(obj)
    return _CALLABLES


RESTRICTED_PICKLE = types.SimpleNamespace(Unpickler=_RestrictedUnpickler, load=None, __name__="recbole_ilm_restricted")


def trust_requested():
    return os.environ.get(TRUST_ENV, "") == "1"


def _torch_load(path, map_location, **kwargs):
    import warnings

    with warnings.catch_warnings():  # "Detected pickle protocol 4": expected for RecBole files, handled below
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(path, map_location=map_location, **kwargs)


def read_checkpoint(path, map_location="cpu", trusted=None):
    """Load a plugin or RecBole checkpoint without running code from it (see the module doc); a clear
    :class:`ILMConfigError` for missing, corrupted, foreign or unsafe files. ``trusted=None`` follows
    ``RECBOLE_ILM_TRUST_CHECKPOINTS``."""
    path = str(path)
    trusted = trust_requested() if trusted is None else trusted
    if not os.path.isfile(path):
        raise ILMConfigError(f"checkpoint '{path}' does not exist")
    try:
        checkpoint = _torch_load(path, map_location, weights_only=True)
    except pickle.UnpicklingError:
        # not tensors and plain data only: a RecBole-format checkpoint (its Config is pickled), or worse
        try:
            if trusted:
                checkpoint = _torch_load(path, map_location, weights_only=False)
            else:
                checkpoint = _torch_load(path, map_location, weights_only=False, pickle_module=RESTRICTED_PICKLE)
        except RefusedGlobal as e:
            raise ILMConfigError(
                f"checkpoint '{path}' was refused: it asks to load {e}, which is not part of a RecBole or recbole-ilm "
                f"checkpoint (loading it could run code). If you made this file yourself and trust it, set "
                f"{TRUST_ENV}=1") from None
        except Exception as e:  # noqa: BLE001
            raise ILMConfigError(f"checkpoint '{path}' cannot be read ({type(e).__name__}: {str(e)[:200]})") from None
    except Exception as e:  # noqa: BLE001 - truncated zip, not a torch file, ...
        raise ILMConfigError(f"checkpoint '{path}' is corrupted or not a PyTorch checkpoint "
                             f"({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        keys = list(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ILMConfigError(f"checkpoint '{path}' is not a RecBole / recbole-ilm model checkpoint (found {keys})")
    return checkpoint


def plain(value):
    """``value`` as JSON-compatible data (numpy scalars -> Python numbers); raises TypeError otherwise."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


DISTRIBUTED_KEYS = ("local_rank", "world_size", "nproc", "ip", "port", "offset")


def plain_config(config):
    """The options a run was started with (files, dict, command line) — enough to rebuild its Config (without the
    process-group settings of a distributed run, so the checkpoint reloads in a single process)."""
    return plain({k: v for k, v in config.external_config_dict.items() if k not in DISTRIBUTED_KEYS})


def write_atomic(state, path):
    """``torch.save`` through a temporary file: a kill while saving never corrupts the previous file."""
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
