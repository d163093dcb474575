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
    "number": _is_number,
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
    "dict": lambda v: isinstance(v, dict),
    "phase or null": lambda v: v is None or (_is_int(v) and v in (0, 1, 2)),
}

# option -> (kind, allowed values or None, one-line help). Every key of every properties/**/*.yaml has an entry
# here and every entry has a default (in those YAMLs or RecBole's own): tests/test_structure.py checks both.
SPEC = {
    # RecBole's own options that the plugin's YAMLs set or rely on
    "MAX_ITEM_LIST_LENGTH": ("positive int", None, "History length of every prompt and sequential model."),
    "epochs": ("non-negative int", None, "Phase-2 epochs (RecBole fit with early stopping on valid NDCG@10)."),
    "learner": ("string", None, "Optimizer of phases 0 and 2 (RecBole's learner, e.g. adamw)."),
    "learning_rate": ("positive number", None, "Phase-2 learning rate."),
    "train_batch_size": ("positive int", None, "Prompts per batch in phases 0 and 2."),
    "eval_batch_size": ("positive int", None, "Users per evaluation batch."),
    "eval_group_by_length": ("bool", None, "Evaluation batches of users with about the same history length."),
    "stopping_step": ("positive int", None, "Early-stopping patience (validations without improvement)."),
    # files and caches
    "ilm_cache_dir": ("string or null", None, "Cache of ids, tokenizers, CF factors, backbones; ~ = "
                      "<checkpoint_dir>/ilm_cache."),
    # data / prompts
    "item_text_fields": ("list of strings", None, "Item fields whose text phase 1 aligns with (set per dataset)."),
    "item_indexing": ("string", {"random", "collaborative", "semantic", "text"}, "Item ids: random (the paper), "
                      "collaborative (co-occurrence spectral clustering), semantic (split of the CF embeddings) or "
                      "text (split of the item texts' sentence embeddings)."),
    "id_digits_per_token": ("positive int", None, "Digits per id token: item_0412 -> [item_, 04, 12]."),
    "num_query_tokens": ("positive int", None, "Item/user tokens inserted after each id (queries / MLP outputs)."),
    "item_token_input": ("string", {"insert", "add"}, "How item/user tokens enter the prompt: insert = "
                         "num_query_tokens extra positions after each id (the paper); add = their mean, through a "
                         "zero-initialised gate, added to the id's own token embeddings (phase 2 starts as the "
                         "text-only backbone)."),
    "prompt_user_id": ("bool", None, "False leaves the user's id (and its user tokens) out of every prompt, so no "
                       "model can tie a user's training rows to each other through it (sequential task only)."),
    "user_tokens": ("string", {"table", "history", "full_history", "fold_in", "cf_model"},
                    "The CF vector behind a prompt's user tokens: table = the user's row of the CF user table (the "
                    "paper; fitted on all of the user's training items, a training row's own target among them); "
                    "history = the mean of the CF vectors of the row's history items, only what precedes its target; "
                    "full_history = the same mean over every item of the user before the target, not only the "
                    "MAX_ITEM_LIST_LENGTH the row shows; fold_in = iALS's own user solve on those items (the table's "
                    "vector without the row's future; cf_source ials, ials_alpha 1); cf_model = the cf_checkpoint "
                    "model's own user vector of the row's history (e.g. SASRec's sequence encoder on ITEM_SEQ; "
                    "cf_source checkpoint), in the CF table's geometry. Unless table, phase 1's UIC pairs each "
                    "training row with its target and reads the same vector."),
    "prompt_vocab_size": ("positive int", None, "Target size of the plugin's SentencePiece vocabulary."),
    "train_tasks": ("dict of non-negative numbers", None, "Task sampling weights for training prompts."),
    "eval_task": ("string", {"sequential", "straightforward"}, "Task scored by RecBole's evaluator."),
    "eval_template": ("string", {"seen", "unseen"}, "seen = training template 0; unseen = the held-out one."),
    "train_sample_ratio": ("number in [0, 1]", None, "Share of the training rows seen per epoch (phases 0, 2)."),
    # CF embeddings
    "cf_source": ("string", {"ials", "checkpoint", "file"}, "Where the CF embeddings come from."),
    "cf_dim": ("positive int", None, "iALS factors."),
    "ials_regularization": ("non-negative number", None, "iALS L2 regularisation."),
    "ials_iterations": ("positive int", None, "iALS sweeps."),
    "ials_alpha": ("positive number", None, "iALS confidence scaling."),
    "cf_checkpoint": ("string or null", None, "RecBole checkpoint whose embedding tables are used (cf_source: "
                      "checkpoint), or a RecBole model's name (e.g. SASRec), trained here once and cached."),
    "cf_item_param": ("string or null", None, "state_dict name of its item table; ~ = item_embedding.weight."),
    "cf_user_param": ("string or null", None, "state_dict name of its user table; ~ = user_embedding.weight or "
                      "the mean of the user's items."),
    "cf_embedding_file": ("string or null", None, ".npy (items) or .npz with 'item' (and 'user') (cf_source: "
                          "file)."),
    # Q-Former / phase 1
    "qformer_layers": ("positive int", None, "Q-Former layers."),
    "qformer_hidden_size": ("positive int", None, "Q-Former width."),
    "qformer_heads": ("positive int", None, "Q-Former attention heads."),
    "qformer_intermediate_size": ("positive int", None, "Q-Former MLP width."),
    "qformer_cross_attention_freq": ("positive int", None, "Cross-attention to the CF embedding every k layers."),
    "qformer_init": ("string", {"random", "minilm"}, "random, or text tower + self-attention from MiniLM."),
    "qformer_dropout": ("number in [0, 1)", None, "Q-Former dropout."),
    "cf_kv_tokens": ("positive int", None, "Key/value tokens the CF embedding is projected to."),
    "text_max_length": ("positive int", None, "Item text tokens ([CLS] ... [SEP])."),
    "itc_embed_dim": ("positive int", None, "Contrastive projection size."),
    "phase1_losses": ("list of strings", None, "Phase-1 losses: itc, itg, itm, iic, uic."),
    "phase1_loss_weights": ("dict of non-negative numbers", None, "Weight of each phase-1 loss."),
    "phase1_schedule": ("list of strings", None, "Batch kinds, cycled: item_text, item_item, user_item."),
    "phase1_epochs": ("non-negative int", None, "Phase-1 epochs; 0 = ILM-rand."),
    "phase1_steps_per_epoch": ("positive int", None, "Optimizer steps per phase-1 epoch."),
    "phase1_batch_size": ("positive int", None, "Pairs per phase-1 batch (in-batch negatives)."),
    "phase1_learning_rate": ("positive number", None, "Phase-1 AdamW learning rate (cosine decay, warm-up)."),
    "phase1_eval_ratio": ("number in [0, 1)", None, "Share of text items held out for phase-1 evaluation."),
    # LLM / phase 0 / phase 2
    "llm_path": ("string or null", None, "Local Hugging Face causal LM (or smollm2); ~ = the plugin's backbone."),
    "llm_layers": ("positive int", None, "Backbone decoder layers."),
    "llm_hidden_size": ("positive int", None, "Backbone width."),
    "llm_heads": ("positive int", None, "Backbone attention heads."),
    "llm_intermediate_size": ("positive int", None, "Backbone MLP width."),
    "llm_max_positions": ("positive int", None, "Backbone maximum prompt length."),
    "backbone_epochs": ("non-negative int", None, "Phase-0 epochs (early stopping on valid NDCG@10)."),
    "backbone_learning_rate": ("positive number", None, "Phase-0 learning rate."),
    "backbone_stopping_step": ("positive int or null", None, "Phase-0 early-stopping patience (null = "
                               "stopping_step); part of the cached backbone's key in stopping_step's place."),
    "backbone_eval_step": ("positive int or null", None, "Epochs between phase-0 validations (null = eval_step); part "
                           "of the cached backbone's key in eval_step's place."),
    "backbone_seed": ("int or null", None, "Seed of the id index, tokenizer and backbone; ~ = seed (fix it to share "
                      "one cached backbone across seeds)."),
    "mlp_hidden_factor": ("positive int", None, "MLPAdapter hidden size as a multiple of the CF dimension."),
    # trainer
    "phase": ("phase or null", None, "Run only this phase (0 backbone, 1 alignment, 2 retrieval); ~ = all."),
    "init_checkpoint": ("string or null", None, "Checkpoint to start from (e.g. a phase-1 file for phase: 2)."),
    "resume": ("string or null", None, "A *.resume.pth file of an interrupted run: continue where it stopped."),
    "resume_file": ("string or null", None, "Where a fresh run writes its resume points; ~ = <checkpoint_dir>/<model>-"
                    "<dataset>-<time>.resume.pth (a resumed run keeps writing to the file it resumed from)."),
    "beam_size": ("positive int", None, "Beams for eval_mode beam / beam_constrained."),
    "eval_mode": ("string", {"full_sort", "beam", "beam_constrained"}, "Test protocol."),
    "retrieval_head": ("string", {"generative", "item_tokens", "hybrid"}, "Phase 2: generative = the LLM spells "
                       "the id; item_tokens = hidden state x every item's own tokens, CE over the catalogue; hybrid = "
                       "the id's log-likelihood + that head, CE over the catalogue."),
    "lr_schedule": ("string", {"constant", "linear", "cosine"}, "Phases 0 and 2, per batch, after warm-up."),
    "warmup_ratio": ("number in [0, 1)", None, "Share of a phase's steps used for linear warm-up."),
    "distill_checkpoint": ("string or null", None, "RecBole sequential model checkpoint whose catalogue scores "
                           "phase 2 distils (retrieval_head: item_tokens / hybrid), or its name (e.g. GRU4Rec), "
                           "trained here once and cached."),
    "recbole_model_config": ("dict", None, "Options of a RecBole model named by cf_checkpoint / distill_checkpoint "
                             "(on top of RecBole's defaults and the run's dataset, split and seed)."),
    "item_head_negatives": ("non-negative int", None, "Phase 2, item-token head: train against the batch's "
                            "targets plus this many uniformly drawn items instead of the whole catalogue (0 = "
                            "whole catalogue; evaluation always scores every item)."),
    "item_head_id_embedding": ("bool", None, "item_tokens / hybrid head: a free vector per item, zero at the start, "
                               "added to the item's output embedding."),
    "item_head_cf": ("bool", None, "item_tokens / hybrid head: a linear map of each item's CF vector (the Q-Former's input), "
                     "zero at the start, added to the item's output embedding."),
    "item_head_text": ("bool", None, "item_tokens / hybrid head: a linear map of each item's all-MiniLM-L6-v2 "
                       "embedding of item_text_fields, zero at the start, added to the item's output embedding."),
    "item_head_prompt_grad": ("bool", None, "item_tokens head, phase 2: False runs the prompt (its item tokens and "
                              "the frozen LLM's pass) without gradient, so only the head's item table and maps "
                              "learn; a step skips the backward through the LLM."),
    "backbone_fusion": ("non-negative number", None, "item_tokens head, evaluation: add this times the frozen "
                        "backbone's own log-likelihood of every id (text-only prompt) to the head's scores (0 = off; "
                        "pick it on valid with python -m recbole_ilm.experiments.fusion)."),
    "popularity_prior": ("number", None, "item_tokens head, evaluation: add this times log(1 + the item's training "
                         "count) to its scores (below 0 lifts rarely bought items; 0 = off; pick it on valid with "
                         "the fusion tool's --priors)."),
    "distill_weight": ("non-negative number", None, "Weight of the distillation loss in phase 2 (0 = off)."),
    "distill_temperature": ("positive number", None, "Softmax temperature of the distillation loss."),
    "distill_user_weight": ("non-negative number", None, "Phase 2 with item_head_cf and cf_source: checkpoint: weight "
                            "of the cf_checkpoint model's user vector regressed from the head's CF map (0 = off)."),
    "distill_user_target": ("string", {"vector", "scores"}, "distill_user_weight's loss: vector = relative squared "
                            "error of the user vectors; scores = KL of their scores over the whole catalogue."),
    "distill_top_items": ("non-negative int", None, "Phase 2 with item_head_negatives and distillation: each row's "
                          "this many highest teacher-scored items join the distillation's columns, not the "
                          "cross-entropy's (0 = off)."),
    "mixed_precision": ("string", {"none", "bf16"}, "bf16: autocast on CUDA (a CPU run stays fp32)."),
    # conversation
    "chat_grounding": ("string", {"metadata", "tokens_only"}, "Chat prompts: item tokens plus the items' own "
                       "catalogue entries (metadata), or item tokens alone (tokens_only, the paper's setting)."),
    "item_noun": ("string", None, "What an item is called in chat prompts (movie, product, ...)."),
    "tag_noun": ("string", None, "What the last item_text_field is called (genres, categories, ...)."),
}


def validate_options(config):
    """Raise :class:`ILMConfigError` for the first option whose value has the wrong type or range."""
    for key, (kind, allowed, _) in SPEC.items():
        if key not in config:
            continue
        value = config[key]
        if not CHECKS[kind](value):
            raise ILMConfigError(f"option '{key}' must be a {kind}, got {value!r}")
        if allowed is not None and value not in allowed:
            raise ILMConfigError(f"option '{key}' must be one of {sorted(allowed)}, got {value!r}")
