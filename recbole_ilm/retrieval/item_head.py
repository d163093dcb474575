"""Item-token output head: one pass of the frozen LLM scores every item of the catalogue.

``score(u, i) = h_u · W t̄_i`` where ``h_u`` is the frozen LLM's last hidden state at the answer position (after the
tokens every id starts with, ``▁item_`` with the plugin's tokenizer) and ``t̄_i`` is the mean of the item tokens that
stand for item ``i`` in the prompt (the same item encoder: input and output item representations are tied); ``W``
is the head's only own weight. Trained with cross-entropy over the whole catalogue (RecBole's ``loss_type: CE``),
so ``full_sort_predict`` is one LLM pass per user plus a matrix product instead of a walk over the id trie.

``item_head_id_embedding: true`` adds a free embedding per item, zero at the start, to the head's output table:
``score(u, i) = h_u · (W t̄_i + e_i)``. The tokens come from CF embeddings through the Q-Former; items whose CF
embeddings barely differ (rarely bought ones) get near-identical tokens, which no ``W`` separates; ``e_i`` can.
"""

import torch
import torch.nn as nn


def shared_prefix(item_tokens):
    """The leading id tokens shared by every item (row 0 is padding), as a 1-D tensor (may be empty)."""
    tokens = torch.as_tensor(item_tokens[1:], dtype=torch.long)
    same = (tokens == tokens[:1]).all(dim=0)
    length = int(same.long().cumprod(0).sum())
    return tokens[0, :length].clone()


class ItemTokenHead(nn.Module):
    def __init__(self, width, n_items=0):
        super().__init__()
        self.proj = nn.Linear(width, width, bias=False)
        self.ids = None  # item_head_id_embedding: one free vector per item id (row 0: padding), zero at the start
        if n_items:
            self.ids = nn.Embedding(n_items, width)
            nn.init.zeros_(self.ids.weight)

    def item_table(self, item_tokens, ids):
        """``[n, N, D]`` item tokens of the items ``ids`` (``[n]``) -> ``[n, D]`` output embeddings."""
        table = self.proj(item_tokens.mean(dim=1))
        return table if self.ids is None else table + self.ids(ids)

    @staticmethod
    def scores(hidden, table):
        """``[B, D]`` answer states x ``[n, D]`` item table -> ``[B, n + 1]`` (column 0, padding, is -inf)."""
        scores = hidden.float() @ table.float().T
        pad = torch.full((scores.shape[0], 1), float("-inf"), device=scores.device)
        return torch.cat([pad, scores], dim=1)
