"""On-disk cache for artefacts derived from a dataset (id index, tokenizer, CF embeddings, pretrained backbones).

A cache entry lives in ``<checkpoint_dir>/ilm_cache/<dataset>/<kind>-<hash>`` where the hash covers everything the
artefact depends on: the dataset's exact user/item vocabulary (so any change of filtering changes the key) and the
hyper-parameters passed by the caller.
"""

import contextlib
import hashlib
import json
import os

# Options that decide what a cached artefact holds, by group; a cache key is the dataset fingerprint plus the
# values of its groups, so any of these options changing makes a new entry (never a stale one).
CACHE_OPTION_GROUPS = {
    # which interactions exist and how they are split into train / valid / test and histories
    "data": ("USER_ID_FIELD", "ITEM_ID_FIELD", "TIME_FIELD", "load_col", "unload_col", "user_inter_num_interval",
             "item_inter_num_interval", "val_interval", "rm_dup_inter", "filter_inter_by_user_or_item",
             "benchmark_filename", "eval_args", "MAX_ITEM_LIST_LENGTH"),
    # id index and tokenizer
    "prompts": ("seed", "id_digits_per_token", "prompt_vocab_size"),
    # iALS factors
    "ials": ("seed", "cf_dim", "ials_regularization", "ials_iterations", "ials_alpha"),
    # the phase-0 backbone: its architecture and how it is trained
    "backbone": ("seed", "llm_layers", "llm_hidden_size", "llm_heads", "llm_intermediate_size", "llm_max_positions",
                 "backbone_epochs", "backbone_learning_rate", "train_batch_size", "train_sample_ratio",
                 "train_tasks", "stopping_step", "lr_schedule", "warmup_ratio", "learner", "weight_decay",
                 "eval_step", "valid_metric", "clip_grad_norm"),
}


def _backbone_value(config, option, default):
    value = config[option] if option in config else None
    return config[default] if value is None else value


def backbone_seed(config):
    """The seed of the id index, tokenizer and phase-0 backbone: ``backbone_seed``, or ``seed`` when it is unset."""
    return _backbone_value(config, "backbone_seed", "seed")


def backbone_patience(config):
    """Phase 0's early-stopping patience: ``backbone_stopping_step``, or ``stopping_step`` when it is unset."""
    return _backbone_value(config, "backbone_stopping_step", "stopping_step")


def backbone_eval_step(config):
    """Epochs between phase 0's validations: ``backbone_eval_step``, or ``eval_step`` when it is unset."""
    return _backbone_value(config, "backbone_eval_step", "eval_step")


# (group, option) -> what the key records instead of the option's own value: the id index, tokenizer and backbone are
# made with the backbone's seed, and the backbone with phase 0's patience and validation interval (so phase 2's own
# never miss the cache)
BACKBONE_VALUES = {("prompts", "seed"): backbone_seed, ("backbone", "seed"): backbone_seed,
                   ("backbone", "stopping_step"): backbone_patience, ("backbone", "eval_step"): backbone_eval_step}


def options_key(config, *groups):
    """``{option: value}`` of every option in ``groups`` (see :data:`CACHE_OPTION_GROUPS`), with the values of
    :data:`BACKBONE_VALUES` where they apply."""
    return {name: BACKBONE_VALUES[(group, name)](config) if (group, name) in BACKBONE_VALUES else config[name]
            for group in groups for name in CACHE_OPTION_GROUPS[group]}


def dataset_fingerprint(dataset):
    """Hash of the internal user and item vocabularies (the id mapping), the same for every split of a dataset."""
    h = hashlib.sha1()
    for field in (dataset.uid_field, dataset.iid_field):
        for token in dataset.field2id_token[field]:
            h.update(str(token).encode("utf-8"))
            h.update(b"\x00")
        h.update(b"\x01")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def atomic_output(path):
    """A temporary path (unique to this process) that replaces ``path`` when the block succeeds.

    Readers never see a half-written file, and processes writing the same artefact (DDP ranks) do not collide. The
    folder is made if missing.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # e.g. checkpoint_dir not made yet
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.isfile(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_folder(path):
    """A temporary folder (unique to this process) that replaces the folder ``path`` when the block succeeds."""
    import shutil

    tmp = f"{path}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cache_path(config, kind, key):
    """Folder for the artefact ``kind`` identified by the JSON-serialisable ``key``. Looking it up makes nothing
    (a miss leaves no empty folder behind); the writers make it (:func:`atomic_output`, :func:`atomic_folder`)."""
    blob = json.dumps(key, sort_keys=True, default=str).encode("utf-8")
    digest = hashlib.sha1(blob).hexdigest()[:12]
    root = config["ilm_cache_dir"] or os.path.join(config["checkpoint_dir"], "ilm_cache")
    return os.path.join(root, str(config["dataset"]), f"{kind}-{digest}")
