"""The frozen LLM: the plugin's Llama-style backbone (pretrained in phase 0) or any local Hugging Face causal LM.

Forward passes go through :func:`run_llm`, which takes ``inputs_embeds`` (text embeddings with item tokens
interleaved), explicit position ids (so left padding never shifts a prompt's positions) and an optional KV cache.
"""

import inspect
import os

import torch

from recbole_ilm.errors import ILMConfigError


def build_backbone(config, tokenizer):
    """A randomly initialised Llama decoder sized by ``llm_*`` options, for the plugin's own tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, heads = config["llm_hidden_size"], config["llm_heads"]
    if hidden % heads:
        raise ILMConfigError(f"llm_hidden_size ({hidden}) must be divisible by llm_heads ({heads})")
    llama_config = LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=hidden, intermediate_size=config["llm_intermediate_size"],
        num_hidden_layers=config["llm_layers"], num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=config["llm_max_positions"], pad_token_id=tokenizer.pad_id,
        bos_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id, tie_word_embeddings=True,
        attention_dropout=0.0,
    )
    llama_config._attn_implementation = "sdpa"
    return LlamaForCausalLM(llama_config)


def reinit_backbone(llm, config, tokenizer, seed):
    """Give ``llm`` the initial weights :func:`build_backbone` draws after seeding with ``seed`` (as the model's
    constructor does with ``seed``), so the backbone of ``backbone_seed = s`` is the one a run with seed s trains."""
    from recbole.utils import init_seed

    init_seed(seed, config["reproducibility"])
    llm.load_state_dict(build_backbone(config, tokenizer).state_dict())


def load_causal_lm(path):
    """A local Hugging Face causal LM (``llm_path``), with a clear error for anything else."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if not os.path.isdir(path):
        raise ILMConfigError(f"llm_path: '{path}' is not a folder with a Hugging Face model")
    try:
        hf_config = AutoConfig.from_pretrained(path)
    except Exception as e:  # noqa: BLE001
        raise ILMConfigError(f"llm_path: '{path}' has no readable config.json ({type(e).__name__}: {e})") from None
    if getattr(hf_config, "is_encoder_decoder", False):
        raise ILMConfigError(f"llm_path: '{path}' is an encoder-decoder ({hf_config.model_type}); ILM needs a "
                             f"decoder-only causal LM")
    archs = list(getattr(hf_config, "architectures", None) or [])
    if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        raise ILMConfigError(f"llm_path: '{path}' holds {archs}, which is not a causal LM (a '...ForCausalLM' "
                             f"model is needed)")
    try:
        return AutoModelForCausalLM.from_pretrained(path, attn_implementation="sdpa", dtype=torch.float32)
    except ValueError as e:
        raise ILMConfigError(f"llm_path: '{path}' ({hf_config.model_type}) is not a causal LM: {e}") from None


def freeze(llm):
    """Frozen for good: no gradients, eval mode (no dropout)."""
    llm.requires_grad_(False)
    llm.eval()
    return llm


def _cache_kwarg(llm):
    params = inspect.signature(llm.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def new_cache(llm):
    from transformers import DynamicCache

    try:
        return DynamicCache(config=llm.config)
    except TypeError:  # older transformers
        return DynamicCache()


def run_llm(llm, inputs_embeds, attention_mask, position_ids, cache=None, keep=0, hidden=False):
    """Logits of the last ``keep`` positions (all when 0); ``cache`` (a DynamicCache) is extended in place. With
    ``hidden`` also the final (normed) hidden states of those positions: ``(logits, hidden)``."""
    kwargs = {"inputs_embeds": inputs_embeds, "attention_mask": attention_mask, "position_ids": position_ids,
              "use_cache": cache is not None, "logits_to_keep": keep, "output_hidden_states": hidden}
    if cache is not None:
        kwargs[_cache_kwarg(llm)] = cache
    out = llm(**kwargs)
    if not hidden:
        return out.logits
    states = out.hidden_states[-1]
    return out.logits, (states[:, -keep:] if keep else states)


def last_hidden_state(llm, inputs_embeds, attention_mask, position_ids):
    """``[B, D]``: the final (normed) hidden state at the last position, from the LLM's decoder without its LM head."""
    out = llm.base_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=False)
    return out.last_hidden_state[:, -1]


def prompt_positions(mask):
    """Position ids for a left-padded batch: 0 at each prompt's first real token (pads get 0 too)."""
    return (mask.long().cumsum(dim=1) - 1).clamp(min=0)
