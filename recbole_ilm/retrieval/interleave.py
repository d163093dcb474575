"""Put item/user tokens into the LLM's input embeddings: at the prompt's slot positions (``item_token_input:
insert``), or added to the id's own token embeddings through a gate (``add``)."""

import torch


def interleave(text_embeds, slot_item, slot_user, slot_rank, encode_items, encode_users, gate=None):
    """``text_embeds [B, T, D]`` with every slot replaced by its entity's token, or (``gate`` ``[D]`` given) with
    ``gate * mean(entity tokens)`` added at every marked position.

    ``encode_items(ids)`` / ``encode_users(ids)`` map unique ids ``[U]`` to tokens ``[U, N, D]``; each entity is
    encoded once per batch however often it occurs. Positions without a slot keep their text embedding, so a
    prompt without slots is passed through untouched, and so is every prompt while the gate is zero.
    """
    embeds = text_embeds
    for ids, encode in ((slot_item, encode_items), (slot_user, encode_users)):
        where = (slot_rank >= 0) & (ids > 0)
        if not where.any():
            continue
        unique, inverse = torch.unique(ids[where], return_inverse=True)
        tokens = encode(unique)
        if embeds is text_embeds:
            embeds = text_embeds.clone()
        if gate is None:
            embeds[where] = tokens[inverse, slot_rank[where]].to(embeds.dtype)
        else:
            embeds[where] = embeds[where] + (gate * tokens.mean(dim=1))[inverse].to(embeds.dtype)
    return embeds
