"""CF embeddings from outside: a trained RecBole checkpoint (BPR, SASRec, LightGCN, ...) or an .npz/.npy file."""

import os

import numpy as np
import torch

from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.errors import ILMConfigError

ITEM_PARAM_CANDIDATES = ("item_embedding.weight",)
USER_PARAM_CANDIDATES = ("user_embedding.weight",)


def _check_table(table, rows, what, source):
    if table.ndim != 2 or table.shape[0] != rows:
        raise ILMConfigError(
            f"{source}: {what} embedding has shape {tuple(table.shape)} but the dataset has {rows} {what} ids "
            f"(including padding row 0); it must come from the same dataset and filtering"
        )
    if not np.isfinite(table).all():
        bad = int((~np.isfinite(table)).any(axis=1).sum())
        raise ILMConfigError(f"{source}: {what} embedding has NaN/inf in {bad} rows; fix or refit it")
    return table.astype(np.float32)


def mean_of_items(item_table, matrix):
    """User vectors as the mean of their training items' vectors (for CF models without user embeddings)."""
    counts = np.asarray(matrix.sum(axis=1)).reshape(-1, 1)
    users = (matrix @ item_table) / np.maximum(counts, 1.0)
    return users.astype(np.float32)


def checkpoint_embeddings(path, item_num, user_num, matrix, item_param=None, user_param=None, dataset=None):
    """Item (and user) tables from the ``state_dict`` of a RecBole checkpoint."""
    source = f"cf_checkpoint '{path}'"
    try:
        checkpoint = read_checkpoint(path)
    except ILMConfigError as e:
        raise ILMConfigError(f"cf_checkpoint: {e} (give a RecBole .pth, or a RecBole model's name such as SASRec "
                             f"to have it trained here)") from None
    state = checkpoint["state_dict"]
    saved_dataset = checkpoint.get("dataset") or (checkpoint["config"]["dataset"] if "config" in checkpoint else None)
    if dataset is not None and saved_dataset is not None and saved_dataset != dataset:
        raise ILMConfigError(f"{source}: trained on dataset '{saved_dataset}', not '{dataset}'")
    tables = {k: v for k, v in state.items() if torch.is_tensor(v) and v.dim() == 2}
    found = ", ".join(f"{k} {tuple(v.shape)}" for k, v in tables.items()) or "no 2-D tensors"

    def pick(name, candidates, rows, what):
        names = [name] if name else list(candidates)
        for n in names:
            if n in tables and tables[n].shape[0] == rows:
                return tables[n].float().numpy()
        raise ILMConfigError(
            f"{source}: no {what} embedding table named {names} with {rows} rows; found: {found}. "
            f"Set cf_{what}_param to one of those names"
        )

    items = _check_table(pick(item_param, ITEM_PARAM_CANDIDATES, item_num, "item"), item_num, "item", source)
    if user_param or any(n in tables for n in USER_PARAM_CANDIDATES):
        users = _check_table(pick(user_param, USER_PARAM_CANDIDATES, user_num, "user"), user_num, "user", source)
    else:
        users = mean_of_items(items, matrix)
    return users, items


def file_embeddings(path, item_num, user_num, matrix):
    """Tables from ``.npy`` (items only) or ``.npz`` (``item`` and optionally ``user``) indexed by internal id."""
    source = f"cf_embedding_file '{path}'"
    if not os.path.isfile(path):
        raise ILMConfigError(f"{source}: no such file")
    data = np.load(path)
    if isinstance(data, np.ndarray):
        items, users = data, None
    else:
        if "item" not in data:
            raise ILMConfigError(f"{source}: an .npz needs an 'item' array (found {list(data.keys())})")
        items, users = data["item"], data["user"] if "user" in data else None
    items = _check_table(np.asarray(items), item_num, "item", source)
    users = mean_of_items(items, matrix) if users is None else _check_table(np.asarray(users), user_num, "user",
                                                                             source)
    return users, items
