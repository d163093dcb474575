"""``user_tokens``: the CF vector behind a prompt's user tokens (``properties/frozen_llm.yaml``).

``table`` reads the user's row of the model's CF user table (``cf_user``). The other modes build one vector per row
from the CF item vectors of what precedes the row's target: its ``ITEM_SEQ`` window (``history``: their mean), and
also the user's items before that window (the loaders' ``history_offset``, summed from running sums along each
user's training items): ``full_history`` takes their mean, ``fold_in`` iALS's own user solve on them. ``cf_model``
asks the CF model itself (``cf_checkpoint``, a RecBole sequential model such as SASRec, frozen): its user vector of the
row's ``ITEM_SEQ`` window, ``m s_u``, which scores the (normalised) CF table ``c_i = E_i / m`` exactly as the model
does (``m s_u · c_i = s_u · E_i``), divided by the mean norm of the users' vectors over their whole training windows
so that it comes in at the user table's unit mean norm."""

import numpy as np
import torch

from recbole_ilm.cf import history_scale, history_sums, history_vectors, prefix_sums, table_scale
from recbole_ilm.data.history import HISTORY_OFFSET, training_sequences
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.retrieval.distill import check_user_teacher, load_sequential, on_device, teacher_item_scale


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
    if mode == "cf_model":
        attach_cf_user_model(model, config, dataset)


def attach_cf_user_model(model, config, dataset):
    """``user_tokens: cf_model``: the frozen ``cf_checkpoint`` model, kept out of the module tree (neither trained nor
    saved: a reloaded checkpoint reads the same file), checked to score as user vector · the model's CF table, and
    ``cf_model_scale`` (:func:`cf_model_scale`)."""
    fix = "use user_tokens: full_history (the mean of the history's CF vectors works with any CF source)"
    if config["cf_source"] != "checkpoint" or not config["cf_checkpoint"]:
        raise ILMConfigError(f"user_tokens: cf_model reads the user vector of the model whose item table the CF "
                             f"vectors are, but cf_source is {config['cf_source'] or 'ials'}: set cf_source: "
                             f"checkpoint and cf_checkpoint to a RecBole sequential model (e.g. SASRec), or {fix}")
    cf_model = load_sequential(config, dataset, config["cf_checkpoint"], "cf_checkpoint").eval()
    check_user_teacher(config, cf_model, model.cf_item, "user_tokens: cf_model", fix)
    model.__dict__["cf_user_model"] = cf_model
    model.register_buffer("cf_model_item_scale", teacher_item_scale(cf_model).cpu(), persistent=False)
    model.register_buffer("cf_model_scale", cf_model_scale(model, config, dataset), persistent=False)


@torch.no_grad()
def cf_model_user_vectors(model, seq, unit=True):
    """``[B, d]``: ``m s_u`` of each row's history ``seq`` ``[B, L]`` (left-aligned, 0 = padding) by the frozen
    ``cf_user_model``, divided by ``cf_model_scale`` when ``unit``; zero for an empty history."""
    cf_model = model.cf_user_model
    if cf_model.item_embedding.weight.device != seq.device:
        model.__dict__["cf_user_model"] = cf_model = on_device(cf_model, seq.device)
    length = (seq > 0).sum(1)
    vectors = cf_model.forward(seq, length.clamp_min(1)) * model.cf_model_item_scale.to(seq.device)
    vectors = vectors * (length > 0).unsqueeze(1).to(vectors.dtype)
    return vectors / model.cf_model_scale.to(seq.device) if unit else vectors


def cf_model_scale(model, config, dataset, batch_size=1024):
    """The mean norm of ``m s_u`` over the users' last ``MAX_ITEM_LIST_LENGTH`` training items (each user's whole
    training window, one vector per user with training rows)."""
    items, starts = training_sequences(config, dataset)
    length = config["MAX_ITEM_LIST_LENGTH"]
    users = np.flatnonzero(starts[1:] > starts[:-1])
    windows = np.zeros((len(users), length), dtype=np.int64)
    for row, u in enumerate(users):
        last = items[max(starts[u], starts[u + 1] - length):starts[u + 1]]
        windows[row, :len(last)] = last
    windows = torch.as_tensor(windows, device=model.cf_item.device)
    norms = torch.cat([cf_model_user_vectors(model, windows[i:i + batch_size], unit=False).norm(dim=1)
                       for i in range(0, len(windows), batch_size)])
    return norms.mean().cpu() if len(norms) else torch.tensor(1.0)


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
    if mode == "cf_model":
        return cf_model_user_vectors(model, seq)
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
