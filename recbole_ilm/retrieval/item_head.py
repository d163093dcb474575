"""Item-token output head: one pass of the frozen LLM scores every item of the catalogue.

``score(u, i) = h_u · W t̄_i`` where ``h_u`` is the frozen LLM's last hidden state at the answer position (after the
tokens every id starts with, ``▁item_`` with the plugin's tokenizer) and ``t̄_i`` is the mean of the item tokens that
stand for item ``i`` in the prompt (the same item encoder: input and output item representations are tied); ``W``
is the head's only own weight. Trained with cross-entropy over the whole catalogue (RecBole's ``loss_type: CE``),
so ``full_sort_predict`` is one LLM pass per user plus a matrix product instead of a walk over the id trie.

``item_head_id_embedding: true`` adds a free embedding per item, zero at the start, to the head's output table:
``score(u, i) = h_u · (W t̄_i + e_i)``. The tokens come from CF embeddings through the Q-Former; items whose CF
embeddings barely differ (rarely bought ones) get near-identical tokens, which no ``W`` separates; ``e_i`` can.

``item_head_text: true`` adds a linear map of each item's sentence embedding ``x_i`` (all-MiniLM-L6-v2 of its
``item_text_fields``), zero at the start: ``score(u, i) = h_u · (W t̄_i [+ e_i] + V x_i)``. An item bought by few
users has little CF signal and little training of its own ``e_i``, but its text (brand, category, title) is shared
with items the head has learnt; ``V`` carries that over (the content features of CoLLM's cold-item view).

``item_head_cf: true`` adds a linear map of each item's CF vector ``c_i`` (the Q-Former's own input: iALS factors or,
with ``cf_source: checkpoint``, e.g. SASRec's item table), zero at the start: ``score(u, i) = h_u · (W t̄_i + U c_i
[+ ...])``. The Q-Former squeezes ``c_i`` through a few query tokens; ``U`` hands the head the vector itself, so the
answer state can score items in the CF model's own geometry (for a trained SASRec: its output layer's).
"""

import torch
import torch.nn as nn

from recbole_ilm.errors import ILMConfigError


def shared_prefix(item_tokens):
    """The leading id tokens shared by every item (row 0 is padding), as a 1-D tensor (may be empty)."""
    tokens = torch.as_tensor(item_tokens[1:], dtype=torch.long)
    same = (tokens == tokens[:1]).all(dim=0)
    length = int(same.long().cumprod(0).sum())
    return tokens[0, :length].clone()


def check_head_options(config):
    """Refuse, before anything is built, head options that do not fit ``retrieval_head``."""
    head = config["retrieval_head"]
    if config["item_head_negatives"] and head != "item_tokens":
        raise ILMConfigError(f"item_head_negatives samples the catalogue for the item-token head's loss, but "
                             f"retrieval_head: {head} scores every id's likelihood; use retrieval_head: "
                             f"item_tokens or item_head_negatives: 0")
    if config["distill_top_items"] and not (config["item_head_negatives"] and config["distill_weight"]):
        raise ILMConfigError("distill_top_items adds the teacher's best items to the item-token head's sampled "
                             "columns, so it needs item_head_negatives > 0 (0 already scores the whole catalogue) "
                             "and distill_weight > 0 with a distill_checkpoint; set those or distill_top_items: 0")
    if config["backbone_fusion"] and head != "item_tokens":
        why = "has no head" if head == "generative" else "already includes it"
        raise ILMConfigError(f"backbone_fusion adds the backbone's id log-likelihood to the item-token head, but "
                             f"retrieval_head: {head} {why}; use retrieval_head: item_tokens or backbone_fusion: 0")
    if config["item_head_prompt_grad"] is False and head != "item_tokens":
        raise ILMConfigError(f"item_head_prompt_grad: False stops the gradient at the item-token head's answer state, "
                             f"but retrieval_head: {head} is not that head alone; use retrieval_head: item_tokens or "
                             f"item_head_prompt_grad: True")
    if config["popularity_prior"] and head != "item_tokens":
        raise ILMConfigError(f"popularity_prior adds b * log(1 + training count) to the item-token head's scores, but "
                             f"retrieval_head: {head} is not that head alone; use retrieval_head: item_tokens or "
                             f"popularity_prior: 0")
    if head == "generative":
        for option, what in (("item_head_id_embedding", "a vector per item"),
                             ("item_head_text", "a map of each item's text embedding"),
                             ("item_head_cf", "a map of each item's CF vector")):
            if config[option]:
                raise ILMConfigError(f"{option} adds {what} to the item-token head's table, but retrieval_head: "
                                     f"generative has no head; use retrieval_head: item_tokens or hybrid, or "
                                     f"{option}: False")
        return
    if config["distill_user_weight"] and not config["item_head_cf"]:
        raise ILMConfigError("distill_user_weight regresses the head's map of the CF vectors (U^T h_u) onto the "
                             "cf_checkpoint model's user vector, so it needs item_head_cf: True; set item_head_cf: "
                             "True or distill_user_weight: 0")
    if config["item_head_text"] and not config["item_text_fields"]:
        raise ILMConfigError("item_head_text adds a map of each item's text embedding to the item-token head, but "
                             "item_text_fields is empty; name the item file's text columns (e.g. "
                             "item_text_fields: [title, genre]) or use item_head_text: False")
    if config["eval_mode"] != "full_sort":
        raise ILMConfigError(f"eval_mode: {config['eval_mode']} is the beam search of generative retrieval; "
                             f"with retrieval_head: {head} use eval_mode: full_sort")


class ItemTokenHead(nn.Module):
    def __init__(self, width, n_items=0, text=None, cf_dim=0):
        """``n_items``: with item_head_id_embedding, the number of item ids (0: none); ``text``: with
        item_head_text, the items' sentence embeddings ``[n_items, d]`` (None: none); ``cf_dim``: with item_head_cf,
        the width of the CF vectors that :meth:`item_table` is given (0: none)."""
        super().__init__()
        self.proj = nn.Linear(width, width, bias=False)
        self.ids = None  # item_head_id_embedding: one free vector per item id (row 0: padding), zero at the start
        if n_items:
            self.ids = nn.Embedding(n_items, width)
            nn.init.zeros_(self.ids.weight)
        self.text_proj = None  # item_head_text: V, zero at the start; the embeddings travel with the checkpoint
        if text is not None:
            self.register_buffer("text", torch.as_tensor(text, dtype=torch.float32))
            self.text_proj = nn.Linear(self.text.shape[1], width, bias=False)
            nn.init.zeros_(self.text_proj.weight)
        self.cf_proj = None  # item_head_cf: U, zero at the start (the CF vectors are the model's own buffer)
        if cf_dim:
            self.cf_proj = nn.Linear(cf_dim, width, bias=False)
            nn.init.zeros_(self.cf_proj.weight)

    def item_table(self, item_tokens, ids, cf=None):
        """``[n, N, D]`` item tokens of the items ``ids`` (``[n]``) -> ``[n, D]`` output embeddings; ``cf``: the
        items' CF vectors ``[n, d]`` (used with item_head_cf)."""
        table = self.proj(item_tokens.mean(dim=1))
        if self.cf_proj is not None:
            table = table + self.cf_proj(cf)
        if self.ids is not None:
            table = table + self.ids(ids)
        if self.text_proj is not None:
            table = table + self.text_proj(self.text[ids])
        return table

    @staticmethod
    def scores(hidden, table):
        """``[B, D]`` answer states x ``[n, D]`` item table -> ``[B, n + 1]`` (column 0, padding, is -inf)."""
        scores = hidden.float() @ table.float().T
        pad = torch.full((scores.shape[0], 1), float("-inf"), device=scores.device)
        return torch.cat([pad, scores], dim=1)
