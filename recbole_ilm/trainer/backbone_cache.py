"""The cached phase-0 backbone: where it lives, how it is written and read back (with its training record)."""

import json
import os

from recbole_ilm.cache import atomic_folder, cache_path, options_key

TRAINING_RECORD = "phase0_training.json"  # beside a cached backbone: its per-epoch examples, tokens, seconds


def backbone_dir(config, model):
    """Cache folder of the phase-0 backbone: the prompt set it reads (data, ids, tokenizer) and its options. The
    prompt set enters the key by its folder's name (itself a digest of the prompts' key), not its path, so a cache
    moved or copied under another ``ilm_cache_dir`` (another machine, a GPU run brought back) is still found."""
    key = {"prompts": os.path.basename(os.path.normpath(model.prompts.cache_dir)),
           **options_key(config, "data", "backbone")}
    if config["prompt_user_id"] is False:  # (prompts that name the user keep the key they had before the option)
        key["prompt_user_id"] = False
    return os.path.join(cache_path(config, "backbone", key), "model")


def save_backbone(folder, llm, throughput):
    """Write ``llm`` (``save_pretrained``) and its per-epoch training record to ``folder``, atomically."""
    with atomic_folder(folder) as tmp:
        llm.save_pretrained(tmp)
        with open(os.path.join(tmp, TRAINING_RECORD), "w", encoding="utf-8") as f:
            json.dump({"throughput": throughput}, f)


def is_cached(folder):
    return os.path.isfile(os.path.join(folder, "config.json"))


def load_backbone(folder, llm):
    """Load the backbone cached in ``folder`` (:func:`is_cached`) into ``llm``; its training record, or None when it
    has none."""
    from transformers import AutoModelForCausalLM

    llm.load_state_dict(AutoModelForCausalLM.from_pretrained(folder).state_dict())
    record = os.path.join(folder, TRAINING_RECORD)
    if not os.path.isfile(record):
        return None
    with open(record, encoding="utf-8") as f:
        return json.load(f)["throughput"]
