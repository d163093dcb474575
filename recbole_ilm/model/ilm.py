"""ILM: a Q-Former turns each item's (and user's) CF embedding into N text-aligned tokens for the frozen LLM.

Phase 1 (alignment, :mod:`recbole_ilm.alignment`) pretrains ``item_encoder.qformer``; phase 2 trains the
Q-Former and the linear adaptor on generative retrieval. ILM-rand is this model with phase 1 switched off
(``phase1_epochs: 0``); the IT / IT-II / IT-UI variants differ only in ``phase1_losses``.
"""

import torch
import torch.nn as nn

from recbole_ilm.alignment.objective import AlignmentTarget
from recbole_ilm.alignment.pretrained import check_minilm_compatible, init_from_minilm
from recbole_ilm.alignment.qformer import ItemQFormer
from recbole_ilm.alignment.text import ItemTextTable
from recbole_ilm.data.item_text import item_texts
from recbole_ilm.model.base import FrozenLLMRecommender
from recbole_ilm.retrieval.user_tokens import row_user_vectors


class QFormerAdaptor(nn.Module):
    """Q-Former (CF embedding -> N query outputs) followed by the linear adaptor to the LLM's width."""

    def __init__(self, qformer, llm_width):
        super().__init__()
        self.qformer = qformer
        self.adaptor = nn.Linear(qformer.hidden_size, llm_width)

    def forward(self, cf):
        return self.adaptor(self.qformer.encode(cf))


class ILM(FrozenLLMRecommender):
    def build_item_encoder(self, config, dataset):
        texts = item_texts(dataset, config["item_text_fields"])
        table = ItemTextTable(texts, config["text_max_length"])
        self.register_buffer("text_tokens", torch.as_tensor(table.tokens))
        self.register_buffer("text_lengths", torch.as_tensor(table.lengths))
        qformer = ItemQFormer(
            cf_dim=self.cf_dim, text_vocab_size=table.vocab_size, num_queries=config["num_query_tokens"],
            hidden_size=config["qformer_hidden_size"], num_layers=config["qformer_layers"],
            num_heads=config["qformer_heads"], intermediate_size=config["qformer_intermediate_size"],
            cross_attention_freq=config["qformer_cross_attention_freq"], cf_kv_tokens=config["cf_kv_tokens"],
            max_text_length=config["text_max_length"], embed_dim=config["itc_embed_dim"],
            dropout=config["qformer_dropout"],
        )
        if config["qformer_init"] == "minilm":
            check_minilm_compatible(config["qformer_hidden_size"], config["qformer_heads"],
                                    config["qformer_intermediate_size"], config["qformer_layers"])
            init_from_minilm(qformer, table.bert_ids)
        return QFormerAdaptor(qformer, self.llm_width)

    def encode_entities(self, cf):
        return self.item_encoder(cf)

    def phases(self):
        return (0, 1, 2)

    def alignment_target(self):
        """What phase 1 trains and reads: the Q-Former, the CF tables and the item texts (and, unless
        ``user_tokens: table``, the vectors behind a training row's user tokens, for UIC)."""
        rows = None if self.config["user_tokens"] == "table" else (lambda batch: row_user_vectors(self, batch))
        return AlignmentTarget(self.item_encoder.qformer, self.cf_item, self.cf_user, self.text_tokens,
                               self.text_lengths, rows)
