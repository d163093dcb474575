"""What each term of a trained item-token head ranks on its own (issue 12, Amazon Beauty's bottom thirds).

    python docs/quality/head_terms.py saved/ILM-<dataset>-phase2-<time>.pth [--out head_terms.json]

The head scores ``h_u · (W t̄_i + U c_i + e_i [+ V x_i])`` (:mod:`recbole_ilm.retrieval.item_head`). This scores
every valid and test row with each term alone (``tokens`` = W t̄_i, ``cf`` = U c_i, ``ids`` = e_i, ``text``), with
the whole head (``head``, what the model ranks by), and, when the checkpoint distilled ``cf_checkpoint``'s user
vector (``distill_user_weight``), with that CF model itself (``cf_model``: its user vector times its item table,
the scores the ``cf`` term is trained towards). Per scorer: NDCG@10 on both splits and the test popularity thirds;
for the ``cf`` term also the relative squared error of ``Uᵀ h_u`` against ``m s_u`` on test rows (the distillation's
own loss, 1 = predicting zero). RecBole's full-sort masking (padding, the user's history) as in evaluation.
"""

import argparse
import json
import time

import numpy as np
import torch

from recbole_ilm.data.dataloader import in_row_order
from recbole_ilm.experiments.cell_stats import masked_target_ranks, ndcg_at, ndcg_by_popularity
from recbole_ilm.retrieval.distill import load_teachers, teacher_item_scale, teacher_user_vectors


def term_tables(head, tokens, ids, cf):
    """``{name: [n, D]}``: each term of :meth:`ItemTokenHead.item_table` on its own (their sum is the table)."""
    tables = {"tokens": head.proj(tokens.mean(dim=1))}
    if head.cf_proj is not None:
        tables["cf"] = head.cf_proj(cf)
    if head.ids is not None:
        tables["ids"] = head.ids(ids)
    if head.text_proj is not None:
        tables["text"] = head.text_proj(head.text[ids])
    return tables


@torch.no_grad()
def term_ranks(model, data, user_teacher=None):
    """``({scorer: ranks}, targets, {"cf_relative_error": e})`` over the rows of a full-sort eval loader."""
    model.eval()
    tokens = model.encode_entities(model.cf_item)[1:]
    ids = torch.arange(1, model.cf_item.shape[0], device=model.cf_item.device)
    tables = term_tables(model.item_head, tokens, ids, model.cf_item[ids])
    full = model.item_head.item_table(tokens, ids, model.cf_item[ids])
    ranks, targets, err, norm = {}, [], 0.0, 0.0
    scale = teacher_item_scale(user_teacher) if user_teacher is not None else None
    for interaction, history_index, positive_u, positive_i in data:
        interaction = interaction.to(model.device)
        head, hidden = model.item_head_scores(model._prompt_batch(interaction), with_hidden=True)
        scorers = {"head": head, "head_recomputed": model.item_head.scores(hidden, full)}
        scorers.update({name: model.item_head.scores(hidden, table) for name, table in tables.items()})
        if user_teacher is not None:
            scorers["cf_model"] = user_teacher.full_sort_predict(interaction).view(head.shape[0], -1).clone()
            student = hidden.float() @ model.item_head.cf_proj.weight.float()  # Uᵀ h_u, [B, d]
            target = teacher_user_vectors(user_teacher, interaction).float() * scale
            err += float(((student - target) ** 2).sum())
            norm += float((target ** 2).sum())
        for name, scores in scorers.items():
            ranks.setdefault(name, []).append(masked_target_ranks(scores, history_index, positive_u,
                                                                  positive_i).cpu())
        targets.append(positive_i.cpu())
    extra = {"cf_relative_error": err / norm} if norm else {}
    return ({name: in_row_order(data, torch.cat(r).numpy()) for name, r in ranks.items()},
            in_row_order(data, torch.cat(targets).numpy()), extra)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from recbole_ilm.quick_start import load_data_and_model
    from recbole_ilm.trained_baselines import resolve_named_checkpoints

    config, model, dataset, train_data, valid_data, test_data = load_data_and_model(args.checkpoint)
    user_teacher = None
    if config["distill_user_weight"]:
        resolve_named_checkpoints(config, dataset)  # a named cf_checkpoint (SASRec): the cached file
        _, user_teacher = load_teachers(config, train_data.dataset)
        user_teacher = user_teacher.to(model.device).eval()
    result, start = {"checkpoint": args.checkpoint}, time.time()
    valid, _, _ = term_ranks(model, valid_data, user_teacher)
    test, targets, extra = term_ranks(model, test_data, user_teacher)
    result.update(extra, seconds=round(time.time() - start, 1))
    for name in test:
        gains = ndcg_at(test[name])
        thirds = ndcg_by_popularity(train_data._dataset, targets, gains)
        result[name] = {"valid_ndcg@10": float(ndcg_at(valid[name]).mean()), "test_ndcg@10": float(gains.mean()),
                        "test_thirds": [round(thirds[t]["ndcg"], 4) for t in ("bottom", "middle", "top")]}
        print(f"{name:16s} valid {result[name]['valid_ndcg@10']:.4f}  test {result[name]['test_ndcg@10']:.4f}  "
              f"thirds {' / '.join(f'{x:.4f}' for x in result[name]['test_thirds'])}")
    if extra:
        print(f"cf term: relative squared error of U^T h_u against m s_u on test rows {extra['cf_relative_error']:.4f}")
    if not np.array_equal(test["head"], test["head_recomputed"]):
        print(f"note: head and its recomputed sum differ on {int((test['head'] != test['head_recomputed']).sum())} "
              f"test rows (float order)")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
