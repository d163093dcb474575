"""``user_tokens``: the CF vector behind a prompt's user tokens. ``table`` (the paper's) reads the user's row of the CF
user table, fitted on all of the user's training items, so every training row's own target is in it; ``history``
takes the mean of the CF vectors of the row's history items: only what precedes the target, at training as at test."""

import os

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from helpers import build, user_slot_tokens
from recbole_ilm.cf import get_cf_embeddings, prefix_sums, table_scale
from recbole_ilm.data.history import history_offsets, training_sequences
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import run_recbole_ilm


def _history_model(toy, **overrides):
    config, ds, (train, valid, test), model = build("ILM", toy(user_tokens="history", **overrides))
    model.eval()
    return train, valid, model


def test_history_vectors_are_the_mean_of_the_rows_history_items_by_hand(toy):
    train, valid, model = _history_model(toy)
    dataset = train._dataset
    # the scale by hand: mean norm over users of the mean CF vector of all their training items (every training
    # target and the first item of each history, each item once)
    feat, owned = dataset.inter_feat, {}
    for u, target, first in zip(feat["user_id"].tolist(), feat["item_id"].tolist(), feat["item_id_list"][:, 0].tolist()):
        owned.setdefault(u, set()).update((target, first))
    cf = model.cf_item.numpy()
    norms = [np.linalg.norm(cf[sorted(items)].mean(axis=0)) for items in owned.values()]
    assert model.history_scale.item() == pytest.approx(float(np.mean(norms)), rel=1e-5)
    inter = next(iter(train))
    tokens = user_slot_tokens(model, inter)
    assert len(tokens) == len(inter)  # every training prompt names its user (both tasks)
    for b, got in tokens.items():
        history = inter["item_id_list"][b][: int(inter["item_length"][b])]
        vector = cf[history.numpy()].mean(axis=0) / np.mean(norms)
        with torch.no_grad():
            want = model.encode_entities(torch.as_tensor(vector, dtype=torch.float32).unsqueeze(0))[0]
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_history_tokens_never_see_the_target_nor_the_user_table(toy):
    """The leak ``history`` closes: a row's user tokens change with its history items' vectors, not with its
    target's nor with the CF user table (whose row holds the target in ``table`` mode)."""
    train, valid, model = _history_model(toy)
    inter = next(iter(train))
    before = user_slot_tokens(model, inter)
    b = next(b for b in range(len(inter))
              if int(inter["item_id"][b]) not in inter["item_id_list"][b][: int(inter["item_length"][b])])
    target = int(inter["item_id"][b])
    with torch.no_grad():
        model.cf_user.normal_()
        model.cf_item[target] += 5.0
    after = user_slot_tokens(model, inter)
    moved = [r for r in before if target in inter["item_id_list"][r][: int(inter["item_length"][r])].tolist()]
    for r in before:
        if r not in moved:
            torch.testing.assert_close(after[r], before[r])
    with torch.no_grad():
        model.cf_item[int(inter["item_id_list"][b][0])] += 5.0
    assert not torch.allclose(user_slot_tokens(model, inter)[b], before[b])


def test_table_tokens_are_the_user_tables_row(toy):
    """``table`` (the default) is unchanged: the user's row of cf_user, whatever the row's history."""
    config, ds, (train, valid, test), model = build("ILM", toy())
    assert config["user_tokens"] == "table" and not hasattr(model, "history_scale")
    model.eval()
    inter = next(iter(train))
    for b, got in user_slot_tokens(model, inter).items():
        with torch.no_grad():
            want = model.encode_entities(model.cf_user[inter["user_id"][b : b + 1]])[0]
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("head", ["generative", "item_tokens"])
def test_plain_interactions_score_as_the_loaders_batches(toy, head):
    """RecBole's helpers pass interactions without prompt fields: the model builds the prompts and keeps the row's
    history for the user tokens, so the scores equal those of the loader's own batch."""
    train, valid, model = _history_model(toy, retrieval_head=head)
    inter = next(iter(valid))[0]
    plain = Interaction({k: inter[k] for k in ("user_id", "item_id_list", "item_length", "item_id")})
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_predict(plain), model.full_sort_predict(inter))
        batch = {k: v for k, v in model._prompt_batch(plain).items() if k != "item_id_list"}
        with pytest.raises(ILMConfigError, match="user_tokens: history"):
            model.embed_prompt(batch)


@pytest.mark.parametrize("mode", ["history", "full_history", "fold_in"])
def test_a_history_run_trains_and_evaluates(toy, mode):
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(user_tokens=mode, MAX_ITEM_LIST_LENGTH=4,
                                                                         retrieval_head="item_tokens"))
    assert 0.0 <= result["test_result"]["ndcg@10"] <= 1.0


def test_full_history_refuses_rows_it_cannot_place(toy):
    """Rows not laid out as RecBole's own sequential split (here: the splits handed over out of time order) get a
    clear error, not wrong offsets."""
    config, ds, (train, valid, test), model = build("ILM", toy(MAX_ITEM_LIST_LENGTH=4), with_model=False)
    history_offsets(config, train._dataset, valid._dataset, test._dataset)
    with pytest.raises(ILMConfigError, match="user_tokens: full_history"):
        history_offsets(config, test._dataset, valid._dataset, train._dataset)


def test_an_unknown_value_is_refused(toy):
    with pytest.raises(ILMConfigError, match="user_tokens"):
        build("ILM", toy(user_tokens="profile"))


def _full_history_model(toy, **overrides):
    config, ds, loaders, model = build("ILM", toy(user_tokens="full_history", MAX_ITEM_LIST_LENGTH=4, **overrides))
    model.eval()
    return ds, loaders, model


def _user_sequences(ds):
    """Each user's whole item sequence in time order (internal ids), read off the toy's own .inter file."""
    path = os.path.join(ds.config["data_path"], "toy.inter")
    rows = [line.rstrip("\n").split("\t") for line in open(path)][1:]
    seqs = {}
    for user, item, t in sorted(rows, key=lambda r: (r[0], int(r[2]))):
        seqs.setdefault(int(ds.token2id("user_id", user)), []).append(int(ds.token2id("item_id", item)))
    return seqs


def test_full_history_offsets_place_every_row_in_its_users_sequence(toy):
    """Every row of every split: its history window and its target sit at the offset the loaders attach."""
    ds, loaders, model = _full_history_model(toy)
    seqs = _user_sequences(ds)
    cut = 0
    for loader in loaders:
        for batch in loader:
            inter = batch[0] if isinstance(batch, tuple) else batch
            for u, off, seq, n, target in zip(inter["user_id"].tolist(), inter["history_offset"].tolist(),
                                              inter["item_id_list"].tolist(), inter["item_length"].tolist(),
                                              inter["item_id"].tolist()):
                assert seqs[u][off: off + n] == seq[:n] and seqs[u][off + n] == target
                cut += off > 0
    assert cut > 0  # histories longer than MAX_ITEM_LIST_LENGTH were cut, so the offsets are not all 0


def _rows_and_their_past(model, ds, loaders):
    """``(loader, user, past items, user tokens)`` for every row of each loader's first batch; every row has them."""
    seqs = _user_sequences(ds)
    for loader in loaders:
        batch = next(iter(loader))
        inter = batch[0] if isinstance(batch, tuple) else batch
        tokens = user_slot_tokens(model, inter)
        assert len(tokens) == len(inter)
        for b, got in tokens.items():
            u, off, n = int(inter["user_id"][b]), int(inter["history_offset"][b]), int(inter["item_length"][b])
            yield loader, u, seqs[u][: off + n], got  # everything before the target, also what the window cut off


def _assert_tokens_of(model, vector, got):
    with torch.no_grad():
        want = model.encode_entities(torch.as_tensor(vector, dtype=torch.float32).unsqueeze(0))[0]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_full_history_vectors_are_the_mean_over_the_users_whole_past_by_hand(toy):
    ds, (train, valid, test), model = _full_history_model(toy)
    cf, scale = model.cf_item.numpy(), model.history_scale.item()
    for _, _, past, got in _rows_and_their_past(model, ds, (train, test)):
        _assert_tokens_of(model, cf[past].mean(axis=0) / scale, got)


def test_full_history_tokens_see_items_before_the_window_and_never_the_target(toy):
    ds, (train, valid, test), model = _full_history_model(toy)
    inter = next(iter(train))
    before = user_slot_tokens(model, inter)
    b = int(torch.nonzero(inter["history_offset"] > 0)[0])
    seqs = _user_sequences(ds)
    u, off, n = int(inter["user_id"][b]), int(inter["history_offset"][b]), int(inter["item_length"][b])
    older, target, later = seqs[u][0], seqs[u][off + n], seqs[u][off + n + 1:]
    assert older not in inter["item_id_list"][b].tolist()  # cut from the window: only full_history sees it
    items = model.cf_item.clone()
    with torch.no_grad():
        model.cf_user.normal_()
        for i in [target, *later]:
            if i not in seqs[u][: off + n]:
                model.cf_item[i] += 5.0
        model.history_prefix.copy_(_rebuilt_prefix(model, train))
    torch.testing.assert_close(user_slot_tokens(model, inter)[b], before[b])
    with torch.no_grad():
        model.cf_item.copy_(items)
        model.cf_item[older] += 5.0
        model.history_prefix.copy_(_rebuilt_prefix(model, train))
    assert not torch.allclose(user_slot_tokens(model, inter)[b], before[b])


def _rebuilt_prefix(model, train):
    return prefix_sums(model.cf_item, *training_sequences(model.config, train._dataset))


def test_fold_in_is_ials_own_user_solve_on_the_rows_past_by_hand(toy):
    """``fold_in``: (YᵀY + λI)⁻¹ Σ y over the user's items before the row's target, from the raw iALS tables, at the
    user table's scale; on a validation row (its past: every training item) that is the user table's own row."""
    config, ds, (train, valid, test), model = build("ILM", toy(user_tokens="fold_in", MAX_ITEM_LIST_LENGTH=4,
                                                               ials_iterations=30))
    model.eval()
    users, items = get_cf_embeddings(config, train._dataset)
    solve = np.linalg.inv(items.T.astype(np.float64) @ items + config["ials_regularization"] * np.eye(items.shape[1]))
    scale_u = float(table_scale(users))
    for loader, u, past, got in _rows_and_their_past(model, ds, (train, valid)):
        vector = solve @ items[past].sum(axis=0) / scale_u
        if loader is valid:  # the whole training history: iALS's own user factor, up to its CG solver's error
            table = users[u] / scale_u
            assert np.linalg.norm(vector - table) < 0.02 * np.linalg.norm(table)
        _assert_tokens_of(model, vector, got)


@pytest.mark.parametrize("override, match", [({"ials_alpha": 2.0}, "ials_alpha: 1"),
                                             ({"cf_source": "file"}, "use user_tokens: full_history")])
def test_fold_in_refuses_what_it_cannot_solve(toy, tmp_path, override, match):
    if override.get("cf_source") == "file":
        override = {**override, "cf_embedding_file": str(tmp_path / "items.npy")}
        np.save(override["cf_embedding_file"], np.random.default_rng(0).normal(size=(31, 8)).astype(np.float32))
    with pytest.raises(ILMConfigError, match=match):
        build("ILM", toy(user_tokens="fold_in", **override))


@pytest.mark.parametrize("mode", ["history", "full_history", "fold_in"])
def test_phase1_uic_reads_each_training_rows_own_user_vector(toy, mode):
    """Unless ``user_tokens: table``, phase 1's user-item pairs are the training rows and their targets, and the user
    side is the vector phase 2 puts behind the row's user tokens: built from the user's items before the target (by
    hand below), never from the user table."""
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer

    config, ds, (train, valid, test), model = build("ILM", toy(user_tokens=mode, MAX_ITEM_LIST_LENGTH=4,
                                                               phase1_losses=["uic"], phase1_schedule=["user_item"],
                                                               phase1_steps_per_epoch=1))
    target = model.alignment_target()
    trainer = AlignmentTrainer(config, target, train._dataset)
    feat = train._dataset.inter_feat
    rows = np.arange(len(feat))
    assert np.array_equal(trainer.data.pairs["user_item"], np.stack([rows, feat["item_id"].numpy()], axis=1))
    seen, past = {}, []  # by hand: a user's k-th training row has the user's first k items as its past
    for u, first, t in zip(feat["user_id"].tolist(), feat["item_id_list"][:, 0].tolist(), feat["item_id"].tolist()):
        items = seen.setdefault(u, [first])
        past.append(list(items))
        items.append(t)
    cf = model.cf_item
    with torch.no_grad():
        got = target.row_user_vectors(trainer.data.user_rows(torch.as_tensor(rows)))
        for r, items in enumerate(past):
            if mode == "fold_in":
                want = cf[items].sum(dim=0) @ model.fold_in_map.T
            else:
                want = cf[items[-4:] if mode == "history" else items].mean(dim=0) / model.history_scale
            torch.testing.assert_close(got[r], want, rtol=1e-4, atol=1e-5)
    assert any(len(items) > 4 for items in past)  # some rows' past is longer than their ITEM_SEQ window
    batches, inputs = [], []
    sample, features = trainer.data.sample, target.qformer.item_features
    trainer.data.sample = lambda *a: batches.append(sample(*a)) or batches[-1]
    target.qformer.item_features = lambda x: inputs.append(x.detach().clone()) or features(x)
    trainer.train_epoch(0, show_progress=False)
    [batch] = batches
    torch.testing.assert_close(inputs[0], got[batch[:, 0]])  # the rows' own vectors, not the user table's rows
    torch.testing.assert_close(inputs[1], cf[batch[:, 1]])


def test_phase1_uic_with_the_table_keeps_the_papers_user_item_pairs(toy):
    from recbole_ilm.data.pairs import train_sequences, user_item_pairs
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer

    config, ds, (train, valid, test), model = build("ILM", toy())
    target = model.alignment_target()
    assert target.row_user_vectors is None
    data = AlignmentTrainer(config, target, train._dataset).data
    assert data.train_rows is None
    assert np.array_equal(data.pairs["user_item"], user_item_pairs(train_sequences(train._dataset)))
