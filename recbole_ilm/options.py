"""Type/range checks for the plugin's own options, run when the Config is built (before any data is loaded).

A malformed YAML value (``qformer_layers: -2``, ``num_query_tokens: "four"``) must stop the run at once with a
message naming the option, not hours later inside a tensor op.
"""

from recbole_ilm.errors import ILMConfigError


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


CHECKS = {
    "positive int": lambda v: _is_int(v) and v > 0,
    "non-negative int": lambda v: _is_int(v) and v >= 0,
    "positive number": lambda v: _is_number(v) and v > 0,
    "non-negative number": lambda v: _is_number(v) and v >= 0,
    "number in [0, 1)": lambda v: _is_number(v) and 0 <= v < 1,
    "number in [0, 1]": lambda v: _is_number(v) and 0 <= v <= 1,
    "bool": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str) and v.strip() != "",
    "list of strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "string or null": lambda v: v is None or (isinstance(v, str) and v.strip() != ""),
    "int or null": lambda v: v is None or _is_int(v),
    "positive int or null": lambda v: v is None or (_is_int(v) and v > 0),
    "dict of non-negative numbers": lambda v: isinstance(v, dict) and all(_is_number(x) and x >= 0 for x in v.values()),
}

# option -> (kind, extra allowed values or None)
SPEC = {
    "MAX_ITEM_LIST_LENGTH": ("positive int", None),
    # data / prompts
    "item_text_fields": ("list of strings", None),
    "id_digits_per_token": ("positive int", None),
    "num_query_tokens": ("positive int", None),
    "prompt_vocab_size": ("positive int", None),
    "train_tasks": ("dict of non-negative numbers", None),
    "eval_task": ("string", {"sequential", "straightforward"}),
    "eval_template": ("string", {"seen", "unseen"}),
    "train_sample_ratio": ("number in [0, 1]", None),
    # CF embeddings
    "cf_source": ("string", {"ials", "checkpoint", "file"}),
    "cf_dim": ("positive int", None),
    "ials_regularization": ("non-negative number", None),
    "ials_iterations": ("positive int", None),
    "ials_alpha": ("positive number", None),
    "cf_checkpoint": ("string or null", None),
    "cf_embedding_file": ("string or null", None),
    # Q-Former / phase 1
    "qformer_layers": ("positive int", None),
    "qformer_hidden_size": ("positive int", None),
    "qformer_heads": ("positive int", None),
    "qformer_intermediate_size": ("positive int", None),
    "qformer_cross_attention_freq": ("positive int", None),
    "qformer_init": ("string", {"random", "minilm"}),
    "qformer_dropout": ("number in [0, 1)", None),
    "cf_kv_tokens": ("positive int", None),
    "text_max_length": ("positive int", None),
    "itc_embed_dim": ("positive int", None),
    "phase1_losses": ("list of strings", None),
    "phase1_loss_weights": ("dict of non-negative numbers", None),
    "phase1_schedule": ("list of strings", None),
    "phase1_epochs": ("non-negative int", None),
    "phase1_steps_per_epoch": ("positive int", None),
    "phase1_batch_size": ("positive int", None),
    "phase1_learning_rate": ("positive number", None),
    "phase1_eval_ratio": ("number in [0, 1)", None),
    # LLM / phase 0 / phase 2
    "llm_path": ("string or null", None),
    "llm_layers": ("positive int", None),
    "llm_hidden_size": ("positive int", None),
    "llm_heads": ("positive int", None),
    "llm_intermediate_size": ("positive int", None),
    "backbone_epochs": ("non-negative int", None),
    "backbone_learning_rate": ("positive number", None),
    "backbone_batch_size": ("positive int", None),
    "mlp_hidden_factor": ("positive int", None),
    "beam_size": ("positive int", None),
    "eval_mode": ("string", {"full_sort", "beam", "beam_constrained"}),
    "lr_schedule": ("string", {"constant", "linear", "cosine"}),
    "item_noun": ("string", None),
    "tag_noun": ("string", None),
    "warmup_ratio": ("number in [0, 1)", None),
}


def validate_options(config):
    """Raise :class:`ILMConfigError` for the first option whose value has the wrong type or range."""
    for key, (kind, allowed) in SPEC.items():
        if key not in config:
            continue
        value = config[key]
        if not CHECKS[kind](value):
            raise ILMConfigError(f"option '{key}' must be a {kind}, got {value!r}")
        if allowed is not None and value not in allowed:
            raise ILMConfigError(f"option '{key}' must be one of {sorted(allowed)}, got {value!r}")
