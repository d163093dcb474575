"""Issue 12, lever 3: item ids with collaborative structure (``item_indexing``)."""

import numpy as np
import pytest
import scipy.sparse as sp

from helpers import build
from recbole_ilm.data.indexing import IdIndex
from recbole_ilm.data.item_order import bisection_order, item_order
from recbole_ilm.data.prompt_cache import get_prompt_builder
from recbole_ilm.retrieval.scoring import IdTrie


@pytest.mark.parametrize("scheme", ["random", "collaborative", "semantic", "text"])
def test_every_scheme_gives_unique_fixed_length_ids_and_a_valid_trie(wide_root, tmp_path, scheme):
    from conftest import toy_config

    config = toy_config(wide_root, str(tmp_path / "saved"), id_digits_per_token=1, item_indexing=scheme)
    config, ds, (train, valid, test), _ = build("ILM", config, dataset="wide", with_model=False)
    builder = get_prompt_builder(config, train._dataset)
    n = train._dataset.item_num - 1
    assert n >= 150
    index = builder.item_index
    texts = [index.text(i) for i in range(1, n + 1)]
    assert len(set(texts)) == n and len({len(t) for t in texts}) == 1
    assert sorted(index.codes[1:].tolist()) == list(range(1, n + 1))
    assert all(index.parse(t) == i for i, t in enumerate(texts, start=1))
    tokens = builder.item_tokens
    assert len({tuple(r) for r in tokens[1:].tolist()}) == n and tokens.shape[1] == 4  # item_ + 3 one-digit chunks
    trie = IdTrie(tokens)
    assert all(trie.item_of(tokens[i]) == i for i in range(1, n + 1))
    assert max(len(t) for t in trie.level_tokens) > 1


def _two_communities(n_users=60, n_items=40, seed=0):
    """Users 0..29 only consume items 1..20, users 30..59 only items 21..40 (column 0 = padding)."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(n_users):
        pool = np.arange(1, 21) if u < n_users // 2 else np.arange(21, 41)
        for i in rng.choice(pool, size=8, replace=False):
            rows.append(u), cols.append(i)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items + 1))


def test_collaborative_ids_put_co_consumed_items_under_one_prefix():
    order = item_order("collaborative", matrix=_two_communities())
    index = IdIndex.ordered("item_", order, 41, digits_per_token=1)  # codes 1..40, 2 digits: first digit 0..4
    first_half = {index.codes[i] for i in range(1, 21)}
    assert sorted(order.tolist()) == list(range(1, 41))
    assert max(first_half) <= 20 or min(first_half) >= 21  # each community fills one contiguous half of the codes


def test_semantic_ids_follow_the_cf_embeddings():
    rng = np.random.default_rng(1)
    cf = np.zeros((41, 4))
    cf[1:21] = rng.normal([3, 0, 0, 0], 0.3, size=(20, 4))
    cf[21:41] = rng.normal([-3, 0, 0, 0], 0.3, size=(20, 4))
    order = item_order("semantic", cf_items=cf)
    assert set(order[:20].tolist()) in ({*range(1, 21)}, {*range(21, 41)})


def test_text_ids_put_items_with_similar_text_under_one_prefix():
    from recbole_ilm.resources import embed_sentences

    kinds = ["moisturiser for dry skin", "red lipstick, long lasting", "shampoo for curly hair",
             "eyeliner pencil, black"]
    texts = [""] + [f"{kinds[i % 4]} no. {i}" for i in range(16)]  # items 1..16, four kinds interleaved
    order = item_order("text", text_items=embed_sentences(texts))
    assert sorted(order.tolist()) == list(range(1, 17))
    quarters = [{(int(i) - 1) % 4 for i in order[q * 4:(q + 1) * 4]} for q in range(4)]
    assert all(len(kinds_in_quarter) == 1 for kinds_in_quarter in quarters)  # each id block holds one kind


def test_text_ids_without_item_text_fields_say_which_option_to_set(wide_root, tmp_path):
    from conftest import toy_config
    from recbole_ilm.errors import ILMConfigError

    config = toy_config(wide_root, str(tmp_path / "saved"), id_digits_per_token=1, item_indexing="text",
                        item_text_fields=[])
    with pytest.raises(ILMConfigError, match="item_text_fields"):  # raised while the dataset is built
        build("ILM", config, dataset="wide", with_model=False)


def test_bisection_order_is_a_balanced_hierarchy():
    x = np.arange(16, dtype=float)[::-1].reshape(-1, 1)  # 1-D points: the order must sort them
    order = bisection_order(x)
    assert sorted(order.tolist()) == list(range(16))
    assert np.all(np.diff(x[order, 0]) > 0) or np.all(np.diff(x[order, 0]) < 0)


def test_item_text_embeddings_are_computed_once_per_dataset_and_fields(toy, monkeypatch):
    """The items' MiniLM embeddings (text ids, ``item_head_text``) are kept in the plugin's cache: a second call
    reads them back instead of encoding again; other fields make another entry."""
    import recbole_ilm.resources as resources
    from recbole_ilm.data.item_text import item_text_embeddings, item_texts

    config, ds, _, _ = build("BackboneOnly", toy())
    first = item_text_embeddings(config, ds)
    np.testing.assert_allclose(first, resources.embed_sentences(item_texts(ds, config["item_text_fields"])),
                               atol=1e-6)

    def refuse(texts):
        raise AssertionError("encoded again")

    monkeypatch.setattr(resources, "embed_sentences", refuse)
    np.testing.assert_array_equal(item_text_embeddings(config, ds), first)
    config["item_text_fields"] = ["title"]
    with pytest.raises(AssertionError, match="encoded again"):
        item_text_embeddings(config, ds)
