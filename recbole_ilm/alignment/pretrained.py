"""Initialise the Q-Former's text tower (and its self-attention) from all-MiniLM-L6-v2, a 6-layer 384-wide BERT.

As in BLIP-2, both feed-forward blocks (query and text) start from BERT's; cross-attention, queries and heads stay
random. Only the rows of the compact text vocabulary are copied from BERT's word-embedding table.
"""

import os

import torch

from recbole_ilm.resources import minilm_dir
from recbole_ilm.errors import ILMConfigError

MINILM_SHAPE = {"hidden": 384, "heads": 12, "intermediate": 1536, "layers": 6}


def check_minilm_compatible(hidden, heads, intermediate, layers):
    want = MINILM_SHAPE
    if (hidden, heads, intermediate) != (want["hidden"], want["heads"], want["intermediate"]) or layers > 6:
        raise ILMConfigError(
            f"qformer_init: minilm needs qformer_hidden_size: 384, qformer_heads: 12, qformer_intermediate_size: "
            f"1536 and qformer_layers <= 6 (got {hidden}, {heads}, {intermediate}, {layers})"
        )


def init_from_minilm(qformer, bert_ids):
    """Copy MiniLM weights into ``qformer`` (an :class:`ItemQFormer`); returns the number of tensors copied."""
    from safetensors.torch import load_file

    bert = load_file(os.path.join(minilm_dir(), "model.safetensors"))
    bert_ids = torch.as_tensor(bert_ids, dtype=torch.long)
    copied = 0

    def put(param, value):
        nonlocal copied
        with torch.no_grad():
            param.copy_(value)
        copied += 1

    emb = qformer.text_embeddings
    put(emb.word_embeddings.weight, bert["embeddings.word_embeddings.weight"][bert_ids])
    n_pos = emb.position_embeddings.weight.shape[0]
    # BERT adds token-type 0 to every token; fold it into the positions, which this tower adds instead
    put(emb.position_embeddings.weight,
        bert["embeddings.position_embeddings.weight"][:n_pos] + bert["embeddings.token_type_embeddings.weight"][0])
    put(qformer.qformer.layernorm.weight, bert["embeddings.LayerNorm.weight"])
    put(qformer.qformer.layernorm.bias, bert["embeddings.LayerNorm.bias"])
    for i, layer in enumerate(qformer.qformer.encoder.layer):
        src = f"encoder.layer.{i}."
        pairs = [
            (layer.attention.attention.query, "attention.self.query"),
            (layer.attention.attention.key, "attention.self.key"),
            (layer.attention.attention.value, "attention.self.value"),
            (layer.attention.output.dense, "attention.output.dense"),
            (layer.attention.output.LayerNorm, "attention.output.LayerNorm"),
            (layer.intermediate.dense, "intermediate.dense"),
            (layer.output.dense, "output.dense"),
            (layer.output.LayerNorm, "output.LayerNorm"),
            (layer.intermediate_query.dense, "intermediate.dense"),
            (layer.output_query.dense, "output.dense"),
            (layer.output_query.LayerNorm, "output.LayerNorm"),
        ]
        for module, name in pairs:
            put(module.weight, bert[src + name + ".weight"])
            put(module.bias, bert[src + name + ".bias"])
    return copied
