"""``user_tokens``: the CF vector behind a prompt's user tokens (``properties/frozen_llm.yaml``).

``table`` reads the user's row of the model's CF user table (``cf_user``). The other modes build one vector per row
from the CF item vectors of what precedes the row's target: its ``ITEM_SEQ`` window (``history``: their mean), and
also the user's items before that window (the loaders' ``history_offset``, summed from running sums along each
user's training items): ``full_history`` takes their mean, ``fold_in`` iALS's own user solve on them."""

import numpy as np
import torch

from recbole_ilm.cf import history_scale, history_sums, history_vectors, prefix_sums, table_scale
from recbole_ilm.data.history import HISTORY_OFFSET, training_sequences
from recbole_ilm.errors import ILMConfigError


def register_user_token_buffers(model, config, dataset, users, items):
    """The non-persistent buffers a mode needs (rebuilt from the training split on load; ``users``, ``items``: the
    raw CF tables): ``history_scale``; with the whole past also ``history_prefix`` (running sums) and
    ``history_start`` (each user's first row of it); ``fold_in`` also ``fold_in_map``."""
    mode = config["user_tokens"]
    if mode in ("history", "full_history"):
        model.register_buffer("history_scale", history_scale(model.cf_item, dataset), persistent=False)
    if mode in ("full_history", "fold_in"):
        sequence, starts = training_sequences(config, dataset)
        model.register_buffer("history_prefix", prefix_sums(model.cf_item, sequence, starts), persistent=False)
        model.register_buffer("history_start", torch.as_tensor(starts[:-1]) + torch.arange(len(starts) - 1),
                              persistent=False)
    if mode == "fold_in":
        model.register_buffer("fold_in_map", fold_in_map(config, users, items), persistent=False)


def fold_in_map(config, users, items):
    """``[d, d]``: maps the sum of a user's (normalised) CF item vectors to the user's (normalised) iALS factor.
    With ``ials_alpha: 1`` every observed pair has confidence 1, so iALS's user step is ``(YᵀY + λI)⁻¹ Σ y_i`` over
    the user's items: the user table's own vector, here for any set of items (the items before a row's target)."""
    if (config["cf_source"] or "ials") != "ials":
        raise ILMConfigError(f"user_tokens: fold_in recomputes iALS's user factor, but cf_source is "
                             f"{config['cf_source']}; use user_tokens: full_history (the mean of the items' vectors, "
                             f"which is how a CF model without a user table gets its user vectors here)")
    if config["ials_alpha"] != 1:
        raise ILMConfigError(f"user_tokens: fold_in needs ials_alpha: 1 (iALS's user step is then one linear map of "
                             f"the sum of the items' factors); ials_alpha is {config['ials_alpha']}")
    y = np.asarray(items, dtype=np.float64)
    solve = np.linalg.inv(y.T @ y + config["ials_regularization"] * np.eye(y.shape[1]))
    scale = table_scale(items) / table_scale(users)  # normalised items in, normalised users out
    return torch.as_tensor(solve * float(scale), dtype=torch.float32)


def row_user_vectors(model, batch):
    """``[B, d]``: each row's CF vector behind its user tokens, or None for ``table`` (the user table's rows)."""
    mode = model.config["user_tokens"]
    if mode == "table":
        return None
    if model.ITEM_SEQ not in batch:
        raise ILMConfigError(f"user_tokens: {mode} builds a user's tokens from the row's history, but this batch has "
                             f"no {model.ITEM_SEQ}; use user_tokens: table")
    seq = batch[model.ITEM_SEQ].to(model.cf_item.device)
    older = _older_items(model, batch) if mode in ("full_history", "fold_in") else None
    if mode == "fold_in":
        return history_sums(model.cf_item, seq, older)[0] @ model.fold_in_map.T
    return history_vectors(model.cf_item, seq, model.history_scale, older)


def _older_items(model, batch):
    """``(sums [B, d], counts [B])`` of the CF vectors of each row's items before its ITEM_SEQ window; None for rows
    built elsewhere (RecBole's case_study helpers, :mod:`recbole_ilm.recommend`): their history is all there is."""
    if HISTORY_OFFSET not in batch:
        return None
    offsets = batch[HISTORY_OFFSET].to(model.history_prefix.device)
    users = batch[model.config["USER_ID_FIELD"]].to(model.history_prefix.device)
    return model.history_prefix[model.history_start[users] + offsets], offsets
