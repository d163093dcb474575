"""Compatibility shims for RecBole 1.2.1 on today's numpy / torch.

Every shim is feature-detected (never a version-string comparison) and idempotent:

* numpy 2 removed ``np.float_``, ``np.complex_``, ``np.unicode_`` and ``np.bool8``; RecBole's
  ``Config.compatibility_settings`` reads them, so they are restored as aliases before any ``Config`` is built
  (and numpy 1.24 removed ``np.float`` & co., which RecBole's metrics use).
* torch >= 2.6 loads with ``weights_only=True`` by default, which RecBole's checkpoints (pickled ``Config``,
  protocol 4) do not pass; :mod:`recbole_ilm.checkpoint_io` reads them without running code from them.
* RecBole reads atomic files with ``pandas.read_csv`` and pandas' default quoting, so a field with a ``"`` in it
  (many Amazon titles) breaks the file; atomic files are tab-separated without quoting, so
  :func:`unquoted_atomic_files` reads them with ``quoting=QUOTE_NONE`` while a dataset is created.
* RecBole's ``sine.py`` turns on autograd anomaly detection at import time (2.5x slower training); importing the
  sequential models here and switching it off again undoes that once and for all.
"""

import contextlib
import csv
import functools
import warnings

import numpy as np
import pandas as pd
import torch

NUMPY_ALIASES = {
    "float_": "float64",
    "complex_": "complex128",
    "unicode_": "str_",
    "bool8": "bool_",
    # RecBole's Config.compatibility_settings sets these too, but only when a Config is *built*; a Config
    # unpickled from a checkpoint skips that, and RecBole's NDCG then fails on ``np.float``
    "float": "float64",
    "int": "int_",
    "bool": "bool_",
    "complex": "complex128",
    "object": "object_",
    "str": "str_",
    "unicode": "str_",
}


def restore_numpy_aliases():
    """Add the numpy<2 aliases RecBole reads; returns the names that were missing."""
    added = []
    with warnings.catch_warnings():  # numpy 2 warns when asked about np.object / np.str
        warnings.simplefilter("ignore", FutureWarning)
        for alias, target in NUMPY_ALIASES.items():
            if not hasattr(np, alias):
                setattr(np, alias, getattr(np, target))
                added.append(alias)
    return added


def disable_recbole_anomaly_mode():
    """Import RecBole's sequential models (whose import enables anomaly mode) and disable anomaly mode again."""
    import recbole.model.sequential_recommender  # noqa: F401  (the import is the point)

    if torch.is_anomaly_enabled():
        torch.autograd.set_detect_anomaly(False)


@contextlib.contextmanager
def unquoted_atomic_files():
    """While active, ``pandas.read_csv`` (which RecBole's dataset loader calls) treats quotes as plain text."""
    original = pd.read_csv
    pd.read_csv = functools.partial(original, quoting=csv.QUOTE_NONE)
    try:
        yield
    finally:
        pd.read_csv = original


def apply():
    """Apply every shim; safe to call many times."""
    restore_numpy_aliases()
    disable_recbole_anomaly_mode()
