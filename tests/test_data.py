"""Issue 2: CF embeddings without leakage, alignment pairs from training only, prompts and id tokenization."""

import os

import numpy as np
import pytest
import torch

from helpers import build
from recbole_ilm.cf import get_cf_embeddings
from recbole_ilm.cf.ials import training_matrix
from recbole_ilm.data import pairs
from recbole_ilm.data.prompt_cache import get_prompt_builder
from recbole_ilm.data.templates import NUM_SEEN, TEMPLATES
from recbole_ilm.errors import ILMConfigError


def _raw_sequences(toy_root, tr):
    """``({uid: training items in time order}, {uid: all items})`` read from the raw ``toy.inter`` file, in
    internal ids: the training part is every user's items minus the last two (validation, test)."""
    by_user = {}
    with open(os.path.join(toy_root, "toy", "toy.inter")) as f:
        next(f)
        for line in f:
            u, i, t = line.split("\t")
            by_user.setdefault(u, []).append((float(t), i))
    train_seqs, all_seqs = {}, {}
    for u, rows in by_user.items():
        items = [tr.token2id("item_id", i) for _, i in sorted(rows)]
        uid = tr.token2id("user_id", u)
        train_seqs[uid], all_seqs[uid] = items[:-2], items
    return train_seqs, all_seqs


def test_cf_is_fitted_on_training_interactions_only(toy, toy_root):
    """The cached iALS factors equal a fit on the raw file's interactions minus each user's last two (valid/test)
    and differ from a fit that also sees the validation/test interactions (so leakage would show)."""
    import scipy.sparse as sp

    from recbole_ilm.cf.ials import fit_ials

    config, ds, (train, valid, test), _ = build("ILM", toy(), with_model=False)
    tr = train._dataset
    train_seqs, all_seqs = _raw_sequences(toy_root, tr)
    train_pairs = {(u, i) for u, items in train_seqs.items() for i in items}
    all_pairs = {(u, i) for u, items in all_seqs.items() for i in items}

    def matrix(pairs_):
        rows, cols = zip(*sorted(pairs_))
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(tr.user_num, tr.item_num))

    assert set(zip(*training_matrix(tr).nonzero())) == train_pairs
    args = (config["cf_dim"], config["ials_regularization"], config["ials_iterations"], config["ials_alpha"],
            config["seed"])
    users, items = get_cf_embeddings(config, tr)
    expected_users, expected_items = fit_ials(matrix(train_pairs), *args)
    np.testing.assert_allclose(items, expected_items, atol=1e-5)
    np.testing.assert_allclose(users, expected_users, atol=1e-5)
    leaky_users, leaky_items = fit_ials(matrix(all_pairs), *args)
    assert np.abs(leaky_items - items).max() > 1e-2


def test_cf_cache_is_reused(toy, monkeypatch):
    config, ds, (train, _, _), _ = build("ILM", toy(), with_model=False)
    users, items = get_cf_embeddings(config, train._dataset)
    assert users.shape == (train._dataset.user_num, 8) and items.shape == (train._dataset.item_num, 8)
    assert not items[0].any() and not users[0].any()  # padding rows

    def fail(*args, **kwargs):
        raise AssertionError("iALS refitted although a cached result exists")

    monkeypatch.setattr("recbole_ilm.cf.ials.fit_ials", fail)
    users2, items2 = get_cf_embeddings(config, train._dataset)
    np.testing.assert_array_equal(items, items2)


def test_embedding_file_with_wrong_row_count(toy, tmp_path):
    config, ds, (train, _, _), _ = build("ILM", toy(), with_model=False)
    bad = tmp_path / "emb.npy"
    np.save(bad, np.zeros((train._dataset.item_num + 3, 8), dtype=np.float32))
    config["cf_source"], config["cf_embedding_file"] = "file", str(bad)
    with pytest.raises(ILMConfigError, match=r"item embedding has shape \(34, 8\) but the dataset has 31 item"):
        get_cf_embeddings(config, train._dataset)


def test_item_item_and_user_item_pairs_come_only_from_training_histories(toy, toy_root):
    """Checked against the raw interaction file minus each user's last two items (not against the sequences the
    pairs are built from): a pair from a validation or test interaction would show."""
    config, ds, (train, valid, test), _ = build("ILM", toy(), with_model=False)
    train_seqs, all_seqs = _raw_sequences(toy_root, train._dataset)
    allowed = {tuple(sorted(p)) for seq in train_seqs.values() for p in zip(seq[:-1], seq[1:]) if p[0] != p[1]}
    seqs = pairs.train_sequences(train._dataset)
    ii = pairs.item_item_pairs(seqs)
    assert {tuple(p) for p in ii.tolist()} == allowed
    assert len(ii) == len(np.unique(ii, axis=0))
    leaky = {tuple(sorted(p)) for seq in all_seqs.values() for p in zip(seq[-3:-1], seq[-2:]) if p[0] != p[1]}
    assert leaky - allowed, "the toy data must have validation/test transitions that training never has"
    assert not ({tuple(p) for p in ii.tolist()} & (leaky - allowed))
    ui = {tuple(p) for p in pairs.user_item_pairs(seqs).tolist()}
    assert ui == {(u, i) for u, seq in train_seqs.items() for i in seq}


def _builder(toy):
    config, ds, (train, valid, test), _ = build("ILM", toy(), with_model=False)
    return config, get_prompt_builder(config, train._dataset), train


def test_every_id_tokenizes_to_the_same_length(toy):
    config, builder, train = _builder(toy)
    item_lengths = {len(builder.tokenizer.encode_id(builder.item_index.text(i))) for i in range(1, 31)}
    assert item_lengths == {builder.item_tokens.shape[1]} == {1 + builder.item_index.num_chunks}


def test_prompt_round_trip_and_no_target_leak(toy):
    config, builder, train = _builder(toy)
    inter = next(iter(train))  # the dataloader attached the prompt tensors (random task/template per row)
    for b in range(len(inter)):
        hist = inter["item_id_list"][b, : inter["item_length"][b]].tolist()
        target = int(inter["item_id"][b])
        assert builder.decode(inter["target_ids"][b].tolist()) == builder.item_index.text(target)
        slot_items = set(inter["prompt_slot_item"][b].tolist()) - {0}
        assert slot_items <= set(hist)  # only history items get item tokens
        if target not in hist:
            assert builder.item_index.text(target) not in builder.decode(inter["prompt_ids"][b].tolist())
    # sequential prompts, fixed layout: history ids appear in order
    out = builder.build(inter["user_id"][:4], inter["item_id_list"][:4], inter["item_length"][:4],
                        ["sequential"] * 4, [3] * 4, targets=inter["item_id"][:4])
    for b in range(4):
        hist = inter["item_id_list"][b, : inter["item_length"][b]].tolist()
        text = builder.decode(out["prompt_ids"][b].tolist())
        positions = [text.find(builder.item_index.text(i)) for i in hist]
        assert all(p >= 0 for p in positions) and positions == sorted(positions)
        assert builder.user_index.text(int(inter["user_id"][b])) in text
        assert (out["prompt_slot_rank"][b] >= 0).sum() == (len(hist) + 1) * config["num_query_tokens"]


def test_target_never_enters_the_prompt(toy):
    config, builder, train = _builder(toy)
    users = np.array([1, 2])
    hist = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])
    lengths = np.array([3, 2])
    targets = np.array([9, 10])
    for task in ("sequential", "straightforward"):
        for template in range(NUM_SEEN + 1):
            out = builder.build(users, hist, lengths, [task] * 2, [template] * 2, targets=targets)
            for b in range(2):
                text = builder.decode(out["prompt_ids"][b].tolist())
                assert builder.item_index.text(int(targets[b])) not in text
                assert int(targets[b]) not in out["prompt_slot_item"][b].tolist()
                assert builder.decode(out["target_ids"][b].tolist()) == builder.item_index.text(int(targets[b]))


def test_templates_ten_seen_one_unseen():
    for task, templates in TEMPLATES.items():
        assert len(templates) == NUM_SEEN + 1 and len(set(templates)) == NUM_SEEN + 1
        for t in templates:
            assert "{user}" in t and (("{history}" in t) == (task == "sequential"))


def test_history_with_no_items_is_a_clear_error(toy):
    config, builder, train = _builder(toy)
    with pytest.raises(ILMConfigError, match="at least one history item"):
        builder.build([1], np.zeros((1, 4), dtype=np.int64), [0], ["sequential"], [0])


def test_eval_batches_use_the_fixed_template(toy):
    config, ds, (train, valid, test), _ = build("ILM", toy(eval_template="unseen"), with_model=False)
    batch = next(iter(valid))[0]
    text = valid.prompt_builder.decode(batch["prompt_ids"][0].tolist())
    assert "namely" in text  # the held-out template's wording
    assert isinstance(batch["prompt_ids"], torch.Tensor) and batch["prompt_mask"].shape == batch["prompt_ids"].shape


def test_held_out_template_is_not_in_the_tokenizer_corpus(toy):
    from recbole_ilm.data.prompt_cache import render_corpus
    from recbole_ilm.data.templates import UNSEEN, split_template

    config, builder, train = _builder(toy)
    corpus = render_corpus(builder.item_index, builder.user_index, 5, np.random.default_rng(0), per_template=3)
    for task in TEMPLATES:
        words = [p for p in split_template(TEMPLATES[task][UNSEEN]) if not p.startswith("{")]
        assert not any(all(w in sentence for w in words) for sentence in corpus), task
        seen = [p for p in split_template(TEMPLATES[task][0]) if not p.startswith("{")]
        assert any(all(w in sentence for w in seen) for sentence in corpus)


def test_looking_up_a_cache_entry_makes_no_folder(toy, tmp_path):
    """Only the writers make cache folders: a lookup that misses leaves no empty ``<kind>-<digest>`` behind."""
    from recbole_ilm.cache import cache_path

    config = build("ILM", toy(ilm_cache_dir=str(tmp_path / "cache")), with_model=False)[0]
    path = cache_path(config, "backbone", {"any": "key"})
    assert path.startswith(str(tmp_path / "cache")) and not os.path.exists(path)


def test_cache_keys_change_with_every_option_that_changes_the_artefact(toy, tmp_path):
    """Prompts (ids, tokenizer), iALS factors and the phase-0 backbone are cached by a key that covers the split,
    the history length and the filtering, not only the item/user vocabulary; not by where the cache lies."""
    from types import SimpleNamespace

    from recbole_ilm.data.prompt_cache import prompt_cache_dir
    from recbole_ilm.trainer.backbone_cache import backbone_dir

    def dirs(**overrides):
        config, ds, (train, _, _), _ = build("ILM", toy(**overrides), with_model=False)
        prompts = prompt_cache_dir(config, train._dataset)
        return prompts, backbone_dir(config, SimpleNamespace(prompts=SimpleNamespace(cache_dir=prompts)))

    base = dirs()
    assert dirs() == base
    by_ratio = {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "group_by": "user", "mode": "full"}
    for changed in ({"MAX_ITEM_LIST_LENGTH": 5}, {"eval_args": by_ratio}, {"id_digits_per_token": 1},
                    {"rm_dup_inter": "first"}):
        other = dirs(**changed)
        assert other[0] != base[0] and other[1] != base[1], changed
    assert dirs(epochs=3)[1] == base[1]  # phase-2 options do not touch the backbone
    assert dirs(user_tokens="history")[1] == base[1]
    assert dirs(backbone_learning_rate=0.01)[1] != base[1]
    moved = dirs(ilm_cache_dir=str(tmp_path / "elsewhere"))  # a cache copied to another folder is still found
    assert moved[1].startswith(str(tmp_path / "elsewhere")) and not base[1].startswith(str(tmp_path / "elsewhere"))

    def names(prompts, backbone):  # prompts-<digest>, backbone-<digest>
        return os.path.basename(prompts), os.path.basename(os.path.dirname(backbone))

    assert names(*moved) == names(*base)
