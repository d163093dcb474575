"""Raw item text for alignment, rebuilt from the item features RecBole loaded."""

import os

from recbole.utils import FeatureType

from recbole_ilm.errors import ILMConfigError


def atomic_item_columns(data_path, dataset_name):
    """Column names (without ``:type``) of ``<dataset>.item``, or None when the file does not exist."""
    path = os.path.join(data_path, f"{dataset_name}.item")
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\n").split("\t")
    return [h.split(":")[0] for h in header]


def check_text_fields(config):
    """Fail early when ``item_text_fields`` names a column the item file lacks; make sure they are loaded."""
    fields = config["item_text_fields"] or []
    if not fields:
        return
    columns = atomic_item_columns(config["data_path"], config["dataset"])
    if columns is None:
        raise ILMConfigError(
            f"item_text_fields {fields} are set but '{config['dataset']}.item' does not exist in "
            f"'{config['data_path']}'; add the item file or set item_text_fields: []"
        )
    missing = [f for f in fields if f not in columns]
    if missing:
        raise ILMConfigError(
            f"item_text_fields: {missing} not in '{config['dataset']}.item' (its columns: {columns}); "
            f"fix the dataset config"
        )
    load_col = config["load_col"]
    if isinstance(load_col, dict) and load_col.get("item") not in (None, "*"):
        wanted = [config["ITEM_ID_FIELD"]] + fields
        load_col["item"] = list(dict.fromkeys(list(load_col["item"]) + wanted))
    elif isinstance(load_col, dict) and "item" not in load_col:
        load_col["item"] = [config["ITEM_ID_FIELD"]] + list(fields)


def _field_text(dataset, field, item_id):
    value = dataset.item_feat[field][item_id]
    ftype = dataset.field2type[field]
    if ftype == FeatureType.TOKEN_SEQ:
        tokens = [t for t in dataset.id2token(field, value[value > 0].tolist())] if (value > 0).any() else []
        return " ".join(str(t) for t in tokens)
    if ftype == FeatureType.TOKEN:
        return "" if int(value) == 0 else str(dataset.id2token(field, int(value)))
    if ftype == FeatureType.FLOAT:
        v = float(value)
        return "" if v != v else f"{v:g}"
    raise ILMConfigError(f"item_text_fields: field '{field}' has type {ftype.value}; use token or token_seq fields")


def item_texts(dataset, fields):
    """``texts[item_id]`` (str, "" when the item has no text; index 0 is padding), fields joined by ", "."""
    texts = [""] * dataset.item_num
    if not fields or dataset.item_feat is None:
        return texts
    for field in fields:
        if field not in dataset.item_feat:
            raise ILMConfigError(f"item_text_fields: '{field}' was not loaded; add it to load_col.item")
    for i in range(1, dataset.item_num):
        parts = [_field_text(dataset, f, i).strip() for f in fields]
        texts[i] = ", ".join(p for p in parts if p)
    return texts


def item_text_embeddings(config, dataset):
    """``[item_num, 384]`` L2-normalised all-MiniLM-L6-v2 embeddings of :func:`item_texts` (``item_text_fields``;
    row 0 is padding), computed once per dataset and fields and kept in the plugin's cache."""
    import numpy as np

    from recbole_ilm.cache import atomic_output, cache_path, dataset_fingerprint

    fields = list(config["item_text_fields"] or [])
    folder = cache_path(config, "item-text", {"fingerprint": dataset_fingerprint(dataset), "fields": fields,
                                              "encoder": "all-MiniLM-L6-v2"})
    path = os.path.join(folder, "embeddings.npy")
    if os.path.isfile(path):
        return np.load(path)
    from recbole_ilm.resources import embed_sentences

    embeddings = np.asarray(embed_sentences(item_texts(dataset, fields)), dtype=np.float32)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, embeddings)
    return embeddings
