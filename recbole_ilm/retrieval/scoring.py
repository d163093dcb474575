"""Exact log-likelihood of every item id, and beam search, over the id-token trie with one shared prompt cache.

The prompt is encoded once (its KV cache kept), with the tokens every id starts with appended when scoring all
items. Then the trie (or the beams) is walked level by level: all nodes of a level are fed as one batch of new
tokens, each attending to the prompt and to its own ancestors only (a 4-D mask over the cache), at the position
right after the prompt plus its depth. With the plugin's tokenizer an id is
``▁item_ c1 c2``: the prompt pass (ending in ``▁item_``) and one small level (~n/100 nodes) score every item.
"""

import torch

from recbole_ilm.masks import additive_mask
from recbole_ilm.retrieval.item_head import shared_prefix
from recbole_ilm.llm.backbone import new_cache, prompt_positions, run_llm


class IdTrie:
    """Trie of the fixed-length id token sequences ``item_tokens[1:]`` (row 0 is padding)."""

    def __init__(self, item_tokens):
        tokens = torch.as_tensor(item_tokens[1:], dtype=torch.long)
        self.num_items, self.length = tokens.shape
        self.level_tokens, self.level_parent = [], []  # depth d >= 1: last token / parent index of each node
        parent_of_item = torch.zeros(self.num_items, dtype=torch.long)  # node at current depth (root = 0)
        self.item_nodes = [parent_of_item]
        for d in range(1, self.length):
            prefixes, node_of_item = torch.unique(tokens[:, :d], dim=0, return_inverse=True)
            first = torch.full((len(prefixes),), -1, dtype=torch.long)
            first.scatter_reduce_(0, node_of_item, torch.arange(self.num_items), reduce="amin", include_self=False)
            self.level_tokens.append(prefixes[:, -1])
            self.level_parent.append(self.item_nodes[-1][first])
            self.item_nodes.append(node_of_item)
        self.item_last = tokens  # token at each depth, per item
        # leading tokens every id shares (at most length - 1): fed with the prompt itself
        self.shared = min(len(shared_prefix(item_tokens)), self.length - 1)
        self.sequences = {tuple(t.tolist()): i + 1 for i, t in enumerate(tokens)}

    def children(self, depth, vocab_size):
        """``[nodes at depth, V]`` table: child node index (leaf: item id) for each next token, -1 if none."""
        n_nodes = 1 if depth == 0 else len(self.level_tokens[depth - 1])
        table = torch.full((n_nodes, vocab_size), -1, dtype=torch.long)
        child = self.item_nodes[depth + 1] if depth + 1 < self.length else torch.arange(1, self.num_items + 1)
        table[self.item_nodes[depth], self.item_last[:, depth]] = child
        return table

    def item_of(self, sequence):
        return self.sequences.get(tuple(int(t) for t in sequence), -1)


class _Tree:
    """Bookkeeping for nodes fed after the prompt: columns in the cache and each node's ancestor columns."""

    def __init__(self, llm, embeds, mask, keep=1, hidden=False):
        """Encode the prompt; ``prompt_logits`` are the logits of its last ``keep`` positions (with ``hidden``:
        ``prompt_hidden``, the final hidden state of its last position)."""
        self.llm, self.mask = llm, mask.bool()
        self.cache = new_cache(llm)
        self.last_pos = prompt_positions(mask)[:, -1]
        self.width = 0  # tree columns already in the cache
        out = run_llm(llm, embeds, mask, prompt_positions(mask), self.cache, keep=keep, hidden=hidden)
        logits, self.prompt_hidden = (out[0], out[1][:, -1]) if hidden else (out, None)
        self.prompt_logits = logits.float()
        self.root_logits = self.prompt_logits[:, -1]
        self.chain = torch.zeros(mask.shape[0], 1, 0, dtype=torch.long, device=mask.device)

    def feed(self, tokens, parents, depth):
        """Feed ``tokens [B, M]`` at ``depth`` (below the prompt's last token) whose parents index the previous
        level; returns logits [B, M, V]."""
        b, m = tokens.shape
        dev = tokens.device
        own = (self.width + torch.arange(m, device=dev)).view(1, m, 1).expand(b, m, 1)
        chain = torch.cat([torch.gather(self.chain, 1, parents.unsqueeze(-1).expand(b, m, self.chain.shape[2])),
                           own], dim=2)
        t = self.mask.shape[1]
        allowed = torch.zeros(b, m, t + self.width + m, dtype=torch.bool, device=dev)
        allowed[:, :, :t] = self.mask[:, None, :]
        allowed.scatter_(2, t + chain, True)
        embeds = self.llm.get_input_embeddings()(tokens)
        positions = (self.last_pos + depth).unsqueeze(1).expand(b, m)
        out = run_llm(self.llm, embeds, additive_mask(allowed, embeds.dtype), positions, self.cache)
        self.chain, self.width = chain, self.width + m
        return out.float()


def item_log_likelihoods(llm, embeds, mask, trie, answer_state=False):
    """``[B, num_items + 1]`` exact log-likelihoods of every item's id tokens (column 0, padding, is -inf), with
    gradients. The tokens every id starts with (``trie.shared``, e.g. ``▁item_``) are appended to the prompt and
    scored in its own pass, so the walk starts below them (one LLM call fewer). ``answer_state``: also return the
    final hidden state ``[B, D]`` at the last of those shared tokens (the item head's answer position)."""
    b, dev, p = embeds.shape[0], embeds.device, trie.shared
    prefix = trie.item_last[0, :p].to(dev)
    if p:
        embeds = torch.cat([embeds, llm.get_input_embeddings()(prefix).unsqueeze(0).expand(b, -1, -1)], dim=1)
        mask = torch.cat([mask, torch.ones(b, p, dtype=mask.dtype, device=dev)], dim=1)
    tree = _Tree(llm, embeds, mask, keep=p + 1, hidden=answer_state)
    logp = torch.log_softmax(tree.prompt_logits, dim=-1)  # [B, p + 1, V]
    cum = logp[:, torch.arange(p, device=dev), prefix].sum(dim=1, keepdim=True)  # [B, 1]: the shared tokens
    node_logits = logp[:, p:]  # [B, 1, V] log-probs at the one node of depth p
    for d in range(p + 1, trie.length):
        tokens = trie.level_tokens[d - 1].to(dev)
        parents = trie.level_parent[d - 1].to(dev)
        cum = cum[:, parents] + node_logits[:, parents, tokens]
        logits = tree.feed(tokens.unsqueeze(0).expand(b, -1), parents.unsqueeze(0).expand(b, -1), d - p)
        node_logits = torch.log_softmax(logits, dim=-1)
    leaf_parent = trie.item_nodes[-1].to(dev)
    scores = cum[:, leaf_parent] + node_logits[:, leaf_parent, trie.item_last[:, -1].to(dev)]
    scores = torch.cat([torch.full((b, 1), float("-inf"), device=dev), scores], dim=1)
    return (scores, tree.prompt_hidden) if answer_state else scores


@torch.no_grad()
def score_all_items(llm, embeds, mask, trie):
    """:func:`item_log_likelihoods` without gradients: the exact full-ranking scores of generative retrieval."""
    return item_log_likelihoods(llm, embeds, mask, trie)


@torch.no_grad()
def beam_search(llm, embeds, mask, trie, beam_size=10, constrained=True):
    """Top ``beam_size`` id sequences per prompt -> ``[B, beam_size]`` item ids in beam order (-1 = invalid).

    ``constrained`` restricts every step to children in the id trie (outputs are always valid ids); otherwise
    any token may be chosen and outputs that are not an item id come back as -1 (to be removed).
    """
    tree = _Tree(llm, embeds, mask)
    b, dev = embeds.shape[0], embeds.device
    logp = torch.log_softmax(tree.root_logits, dim=-1)  # [B, V]
    vocab = logp.shape[-1]
    node = torch.zeros(b, 1, dtype=torch.long, device=dev)  # trie node of each beam (constrained only)
    scores = torch.zeros(b, 1, device=dev)
    seqs = torch.zeros(b, 1, 0, dtype=torch.long, device=dev)
    for d in range(trie.length):
        step = logp.view(b, -1, vocab)
        if constrained:
            children = trie.children(d, vocab).to(dev)[node]  # [B, K, V]
            step = step.masked_fill(children < 0, float("-inf"))
        total = (scores.unsqueeze(-1) + step).view(b, -1)
        k = min(beam_size, int(torch.isfinite(total).sum(dim=1).min().item()) if constrained else beam_size)
        scores, flat = total.topk(k, dim=1)
        parent, token = flat // vocab, flat % vocab
        seqs = torch.cat([torch.gather(seqs, 1, parent.unsqueeze(-1).expand(-1, -1, seqs.shape[2])),
                          token.unsqueeze(-1)], dim=2)
        if constrained:
            node = torch.gather(children.view(b, -1), 1, flat)
        if d + 1 < trie.length:
            logp = torch.log_softmax(tree.feed(token, parent, d + 1), dim=-1)
    items = torch.tensor([[trie.item_of(s) for s in row] for row in seqs.tolist()], dtype=torch.long, device=dev)
    items[~torch.isfinite(scores)] = -1
    return items
