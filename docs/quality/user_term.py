"""How close an item-token head's CF term comes to the CF model's own scores (distill_user_weight).

    python docs/quality/user_term.py --checkpoint <phase-2 .pth of a run with item_head_cf and cf_source: checkpoint
        (a RecBole sequential model's item table)> [--split test]

With ``item_head_cf`` the head scores ``h_u · (W t̄_i + U c_i + e_i)``; the CF term ``(Uᵀ h_u) · c_i`` is in the CF
model's own geometry (``c_i``: its item table in the plugin's CF scale ``m``), whether or not the run distilled its
user vector (``distill_user_weight``). Over every row of the split this prints: the relative squared error
``‖Uᵀ h_u − m s_u‖² / mean ‖m s_u‖²`` (``s_u``: the CF model's user vector; 1 = predicting zero), the mean cosine
between the two, and NDCG@10 (RecBole's masking of the user's history) of the full head, of the CF term alone, and of
the CF model itself, with their popularity thirds.
"""

import argparse
import sys

import numpy as np
import torch

import recbole_ilm  # noqa: F401  (RecBole compatibility fixes before RecBole is used)
from recbole_ilm.data.dataloader import in_row_order
from recbole_ilm.experiments.cell_stats import masked_target_ranks, ndcg_at, ndcg_by_popularity
from recbole_ilm.quick_start import load_data_and_model
from recbole_ilm.retrieval.distill import load_sequential, teacher_item_scale, teacher_user_vectors


@torch.no_grad()
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--split", default="test", choices=["valid", "test"])
    args = parser.parse_args()
    config, model, _, train_data, valid_data, test_data = load_data_and_model(args.checkpoint)
    if config["cf_source"] != "checkpoint" or getattr(model.item_head, "cf_proj", None) is None:
        sys.exit(f"{args.checkpoint}: needs a run with item_head_cf: True and cf_source: checkpoint")
    teacher = load_sequential(config, train_data._dataset, config["cf_checkpoint"], "cf_checkpoint")
    model.eval()
    scale = teacher_item_scale(teacher)
    data = test_data if args.split == "test" else valid_data
    ranks = {"head": [], "cf term": [], "CF model": []}
    errors, norms, cosines, targets = [], [], [], []
    cf = model.cf_item[1:]
    for interaction, history_index, positive_u, positive_i in data:
        interaction = interaction.to(model.device)
        head, hidden = model.item_head_scores(model._prompt_batch(interaction), with_hidden=True)
        student = hidden.float() @ model.item_head.cf_proj.weight.float()
        target = teacher_user_vectors(teacher, interaction) * scale
        errors.append(((student - target) ** 2).sum(1))
        norms.append((target ** 2).sum(1))
        cosines.append(torch.nn.functional.cosine_similarity(student, target, dim=1))
        term = torch.cat([torch.full((len(student), 1), -np.inf), student @ cf.T], dim=1)
        for name, scores in (("head", head), ("cf term", term), ("CF model", teacher.full_sort_predict(interaction))):
            scores = scores.view(len(student), -1).clone()
            ranks[name].append(masked_target_ranks(scores, history_index, positive_u, positive_i).cpu())
        targets.append(positive_i.cpu())
    targets = in_row_order(data, torch.cat(targets).numpy())
    print(f"{args.checkpoint}, {args.split} split, {len(targets)} rows")
    print(f"relative squared error {torch.cat(errors).mean().item() / torch.cat(norms).mean().item():.4f}, "
          f"mean cosine {torch.cat(cosines).mean().item():.4f}")
    for name, r in ranks.items():
        ndcg = ndcg_at(in_row_order(data, torch.cat(r).numpy()), 10)
        thirds = ndcg_by_popularity(train_data._dataset, targets, ndcg)
        print(f"NDCG@10 {name:<8} {ndcg.mean():.4f}  thirds " + " / ".join(f"{b['ndcg']:.4f}" for b in thirds.values()))


if __name__ == "__main__":
    main()
