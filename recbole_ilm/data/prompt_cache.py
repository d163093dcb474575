"""Build (or load from cache) the id indexes and tokenizer of a dataset, and the prompt builder on top of them."""

import os

import numpy as np

from recbole_ilm.cache import backbone_seed, cache_path, dataset_fingerprint, options_key
from recbole_ilm.data.indexing import IdIndex
from recbole_ilm.data.prompts import PromptBuilder
from recbole_ilm.data.templates import NUM_SEEN, TASKS, TEMPLATE_VERSION, TEMPLATES
from recbole_ilm.data.tokenizer import HFTokenizer, SentencePieceTokenizer
from recbole_ilm.errors import ILMConfigError

_MEMO = {}


def prompt_cache_dir(config, dataset):
    key = {
        "fingerprint": dataset_fingerprint(dataset),
        **options_key(config, "data", "prompts"),
        "templates": TEMPLATE_VERSION,
        "llm_path": os.path.abspath(config["llm_path"]) if config["llm_path"] else None,
    }
    scheme = config["item_indexing"] or "random"
    if scheme != "random":  # (random ids keep the key they had before item_indexing existed)
        key["item_indexing"] = scheme
        if scheme == "semantic":
            key["cf"] = {"source": config["cf_source"], **options_key(config, "ials"),
                         "checkpoint": config["cf_checkpoint"], "file": config["cf_embedding_file"]}
        if scheme == "text":
            key["item_text_fields"] = list(config["item_text_fields"] or [])
    return cache_path(config, "prompts", key)


def item_index(config, dataset, seed, digits):
    """The item id index of ``item_indexing``: a seeded random permutation, or an order with collaborative
    structure computed from the training split (:mod:`recbole_ilm.data.item_order`)."""
    scheme = config["item_indexing"] or "random"
    if scheme == "random":
        return IdIndex.random("item_", dataset.item_num, seed, digits)
    from recbole_ilm.data.item_order import item_order

    if scheme == "collaborative":
        from recbole_ilm.cf.ials import training_matrix

        order = item_order(scheme, matrix=training_matrix(dataset))
    elif scheme == "text":
        from recbole_ilm.data.item_text import item_text_embeddings

        if not config["item_text_fields"]:
            raise ILMConfigError("item_indexing: text orders the ids by the items' text, but item_text_fields is "
                                 "empty; name the item file's text columns (e.g. item_text_fields: [title, genre]) "
                                 "or use item_indexing: semantic")
        order = item_order(scheme, text_items=item_text_embeddings(config, dataset))
    else:
        from recbole_ilm.cf import get_cf_embeddings

        order = item_order(scheme, cf_items=get_cf_embeddings(config, dataset)[1])
    return IdIndex.ordered("item_", order, dataset.item_num, digits)


def render_corpus(item_index, user_index, max_history, rng, per_template=200):
    """Text-only prompts with random users and histories: the SentencePiece training corpus (training templates
    only: the held-out template must stay unseen by the tokenizer too)."""
    sentences = []
    for task in TASKS:
        for template in TEMPLATES[task][:NUM_SEEN]:
            for _ in range(per_template):
                user = user_index.text(int(rng.integers(1, len(user_index))))
                k = int(rng.integers(1, max_history + 1))
                hist = " , ".join(item_index.text(int(i)) for i in rng.integers(1, len(item_index), size=k))
                target = item_index.text(int(rng.integers(1, len(item_index))))
                sentences.append(template.format(user=user, history=hist) + " " + target)
    return sentences


def prompt_assets(builder):
    """What a checkpoint stores so that it evaluates the same anywhere: the id indexes and (for the plugin's own
    tokenizer) the SentencePiece model, as plain data."""
    assets = {"item_index": builder.item_index.to_dict(), "user_index": builder.user_index.to_dict(),
              "tokenizer_kind": builder.tokenizer.kind}
    if builder.tokenizer.kind == "sentencepiece":
        assets["tokenizer"] = builder.tokenizer.serialized()
    return assets


def use_prompt_assets(config, dataset, assets):
    """Make :func:`get_prompt_builder` return the builder a checkpoint was trained with (its own indexes and
    tokenizer), whatever the local cache holds."""
    folder = prompt_cache_dir(config, dataset)
    if assets.get("tokenizer_kind") == "sentencepiece":
        tokenizer = SentencePieceTokenizer(model_proto=assets["tokenizer"])
    else:
        tokenizer = HFTokenizer(config["llm_path"])
    return _remember(config, folder, tokenizer, IdIndex.from_dict(assets["item_index"]),
                     IdIndex.from_dict(assets["user_index"]))


def _token_input(config):
    return config["item_token_input"] or "insert"


def _user_ids(config):
    """``prompt_user_id``: whether prompts name the user; False refuses the tasks whose prompts would then be empty."""
    if config["prompt_user_id"] is not False:
        return True
    from recbole_ilm.data.templates import STRAIGHTFORWARD

    if (config["train_tasks"] or {}).get(STRAIGHTFORWARD, 0) > 0 or config["eval_task"] == STRAIGHTFORWARD:
        raise ILMConfigError(f"prompt_user_id: False leaves the {STRAIGHTFORWARD} task's prompts without any input "
                             f"(they name only the user); set train_tasks: {{sequential: 1.0}} and eval_task: "
                             f"sequential, or prompt_user_id: True")
    return False


def _memo_key(config, folder):
    return folder, config["num_query_tokens"], _token_input(config), _user_ids(config)


def _remember(config, folder, tokenizer, item_index, user_index):
    """The builder for these ids and tokenizer, memoised for this process under its cache folder."""
    builder = PromptBuilder(tokenizer, item_index, user_index, config["num_query_tokens"], _token_input(config),
                            _user_ids(config))
    builder.cache_dir = folder
    _MEMO[_memo_key(config, folder)] = builder
    return builder


def get_prompt_builder(config, dataset):
    """The :class:`PromptBuilder` of this config and dataset (created once, then read from the cache)."""
    folder = prompt_cache_dir(config, dataset)
    memo_key = _memo_key(config, folder)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    digits = config["id_digits_per_token"]
    seed = backbone_seed(config)
    indexes = {}
    for name, num in (("item", dataset.item_num), ("user", dataset.user_num)):
        path = os.path.join(folder, f"{name}_index.json")
        if os.path.isfile(path):
            indexes[name] = IdIndex.load(path)
        else:
            if name == "item":
                indexes[name] = item_index(config, dataset, seed, digits)
            else:
                indexes[name] = IdIndex.random("user_", num, seed + 1, digits)
            indexes[name].save(path)
    if config["llm_path"]:
        tokenizer = HFTokenizer(config["llm_path"])
    else:
        model_file = os.path.join(folder, "tokenizer.model")
        if os.path.isfile(model_file):
            tokenizer = SentencePieceTokenizer(model_file)
        else:
            corpus = render_corpus(indexes["item"], indexes["user"], config["MAX_ITEM_LIST_LENGTH"],
                                   np.random.default_rng(seed))
            tokenizer = SentencePieceTokenizer.train(corpus, model_file, config["prompt_vocab_size"],
                                                     ("item_", "user_"), digits)
    return _remember(config, folder, tokenizer, indexes["item"], indexes["user"])
