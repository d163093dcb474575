"""The Q-Former item encoder: Hugging Face's ``Blip2QFormerModel`` plus what it lacks for ILM.

* N learnable queries (one set shared by all items and users) cross-attend to a CF embedding, projected to
  ``cf_kv_tokens`` key/value tokens;
* a text tower (word/position embeddings, a BERT-style LM head tied to the word embeddings) that shares the
  self-attention layers with the queries (``Blip2QFormerModel`` routes query and text positions through separate
  feed-forward blocks and lets only queries cross-attend);
* projection heads for the contrastive losses, an item-text matching head, and a learnable temperature.

Masks are additive 4-D float masks, which ``Blip2QFormerModel`` passes through to eager or SDPA attention as-is.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import Blip2QFormerConfig, Blip2QFormerModel
from transformers.models.blip_2.modeling_blip_2 import Blip2TextEmbeddings

from recbole_ilm.masks import additive_mask


def _init_bert_style(module):
    """BERT's initialisation for the modules outside ``Blip2QFormerModel`` (which initialises itself)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def multimodal_causal_mask(num_queries, text_mask):
    """BLIP-2's ITG mask ``[B, N+L, N+L]``: queries see only queries; text sees all queries and earlier text."""
    b, length = text_mask.shape
    n, device = num_queries, text_mask.device
    total = n + length
    allowed = torch.zeros(b, total, total, dtype=torch.bool, device=device)
    allowed[:, :n, :n] = True
    allowed[:, n:, :n] = True
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=device))
    allowed[:, n:, n:] = causal & text_mask.bool()[:, None, :]
    return allowed


def bidirectional_mask(num_queries, text_mask):
    """ITM mask: every position sees every query and every real text token."""
    b, length = text_mask.shape
    keys = torch.cat([torch.ones(b, num_queries, dtype=torch.bool, device=text_mask.device), text_mask.bool()], 1)
    return keys[:, None, :].expand(b, num_queries + length, num_queries + length)


class ItemQFormer(nn.Module):
    def __init__(self, cf_dim, text_vocab_size, num_queries=4, hidden_size=128, num_layers=2, num_heads=4,
                 intermediate_size=512, cross_attention_freq=1, cf_kv_tokens=4, max_text_length=64,
                 embed_dim=64, dropout=0.1):
        super().__init__()
        self.config = Blip2QFormerConfig(
            vocab_size=text_vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
            num_attention_heads=num_heads, intermediate_size=intermediate_size,
            cross_attention_frequency=cross_attention_freq, encoder_hidden_size=cf_dim,
            max_position_embeddings=max_text_length, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout, use_qformer_text_input=True, pad_token_id=0,
        )
        self.config._attn_implementation = "sdpa"
        self.num_queries = num_queries
        self.cf_kv_tokens = cf_kv_tokens
        self.query_tokens = nn.Parameter(torch.randn(1, num_queries, hidden_size) * 0.02)
        self.cf_to_kv = nn.Sequential(nn.Linear(cf_dim, cf_kv_tokens * cf_dim), nn.LayerNorm(cf_dim * cf_kv_tokens))
        self.qformer = Blip2QFormerModel(self.config)
        self.text_embeddings = Blip2TextEmbeddings(self.config)
        self.lm_transform = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(),
                                          nn.LayerNorm(hidden_size, eps=1e-12))
        self.lm_bias = nn.Parameter(torch.zeros(text_vocab_size))
        self.item_proj = nn.Linear(hidden_size, embed_dim)
        self.text_proj = nn.Linear(hidden_size, embed_dim)
        self.itm_head = nn.Linear(hidden_size, 1)
        self.temp = nn.Parameter(torch.tensor(0.07))
        for module in (self.cf_to_kv, self.text_embeddings, self.lm_transform, self.item_proj, self.text_proj,
                       self.itm_head):
            module.apply(_init_bert_style)

    @property
    def hidden_size(self):
        return self.config.hidden_size

    def temperature(self):
        return self.temp.clamp(0.001, 0.5)

    def _kv(self, cf):
        b, d = cf.shape
        return self.cf_to_kv(cf).view(b, self.cf_kv_tokens, d)

    def _queries(self, batch):
        return self.query_tokens.expand(batch, -1, -1)

    # ---------------------------------------------------------------- towers
    def encode(self, cf):
        """Query outputs ``[B, N, H]`` for CF embeddings ``[B, d]`` (items or users)."""
        out = self.qformer(query_embeds=self._queries(cf.shape[0]), query_length=self.num_queries,
                           encoder_hidden_states=self._kv(cf))
        return out.last_hidden_state

    def encode_text(self, input_ids, text_mask):
        """Text-only outputs ``[B, L, H]`` (no queries, no cross-attention); position 0 is the CLS output."""
        embeds = self.text_embeddings(input_ids=input_ids)
        mask = additive_mask(text_mask.bool()[:, None, :].expand(-1, input_ids.shape[1], -1), embeds.dtype)
        return self.qformer(query_embeds=embeds, query_length=0, attention_mask=mask).last_hidden_state

    def _joint(self, cf, input_ids, allowed):
        embeds = self.text_embeddings(input_ids=input_ids, query_embeds=self._queries(cf.shape[0]))
        out = self.qformer(query_embeds=embeds, query_length=self.num_queries,
                           attention_mask=additive_mask(allowed, embeds.dtype), encoder_hidden_states=self._kv(cf))
        return out.last_hidden_state[:, self.num_queries :]

    def generation_logits(self, cf, input_ids, text_mask):
        """ITG: LM logits ``[B, L, V]`` of the text tower under the multimodal causal mask."""
        hidden = self._joint(cf, input_ids, multimodal_causal_mask(self.num_queries, text_mask))
        return self.lm_logits(hidden)

    def lm_logits(self, hidden):
        return F.linear(self.lm_transform(hidden), self.text_embeddings.word_embeddings.weight, self.lm_bias)

    def matching_logits(self, cf, input_ids, text_mask):
        """ITM: one logit per pair from the text CLS output, queries and text attending to each other."""
        hidden = self._joint(cf, input_ids, bidirectional_mask(self.num_queries, text_mask))
        return self.itm_head(hidden[:, 0]).squeeze(-1)

    # ---------------------------------------------------------------- features for contrastive losses
    def item_features(self, cf):
        return F.normalize(self.item_proj(self.encode(cf)), dim=-1)

    def text_features(self, input_ids, text_mask):
        return F.normalize(self.text_proj(self.encode_text(input_ids, text_mask)[:, 0]), dim=-1)
