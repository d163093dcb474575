#!/bin/bash
# Issue 12 cells on ml-100k, 2 CPU cores, one torch process at a time (the harness skips finished cells).
# Every LLM cell shares one phase-0 backbone (backbone_seed 2020: up to 20 epochs, early stopping, cached);
# phase 2 runs up to 6 epochs with early stopping on valid NDCG@10 (stopping_step 3). SASRec / GRU4Rec: up to
# 50 epochs, RecBole's stopping_step 10. Usage: docs/quality/ml-100k.sh [OUT] [extra --set options]
set -e
OUT=${1:-docs/quality}; shift || true
COMMON=(--datasets ml-100k --out "$OUT" --protocols ""
        --set backbone_epochs=20 --set backbone_seed=2020 --set epochs=6
        --set SASRec:epochs=50 --set GRU4Rec:epochs=50 "$@")
# run this session (2026-11-25/26):
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2020 \
    --models BackboneOnly,ILM-paper,MLPAdapter-hybrid,SASRec,GRU4Rec
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2020,2021,2022 \
    --models ILM-hybrid,ILM-rand-hybrid,ILM-head
# run in the fourth session (2026-11-26): the item-token head without phase 1, a GRU4Rec teacher (its checkpoint,
# saved/GRU4Rec-ml-100k-<time>.pth of the seed-2021 cell, kept as /work/ckpt/GRU4Rec-ml-100k-seed2021.pth) and
# the head distilling it
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2020,2021,2022 --models ILM-rand-head
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2021,2022 --models GRU4Rec
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2020,2021,2022 \
    --models ILM-head-distill,ILM-rand-head-distill \
    --set distill_checkpoint="${TEACHER:-/work/ckpt/GRU4Rec-ml-100k-seed2021.pth}"
# next: SASRec's other seeds, MLPAdapter-head
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2021,2022 --models SASRec
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --seeds 2020 --models MLPAdapter-head
# run in the twenty-fourth session (2026-12-07, a fresh box: teacher, CF model and backbone rebuilt; section "ml-100k:
# the Beauty levers" of docs/results.md). GRU4Rec seed 2021 and SASRec seed 2020 are kept in /work/ckpt (RecBole
# saves them as saved/<Model>-<time>.pth).
mkdir -p /work/ckpt
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-rebuild --seeds 2021 \
    --models GRU4Rec
cp "$(ls -t saved/GRU4Rec-*.pth | head -1)" /work/ckpt/GRU4Rec-ml-100k-seed2021.pth
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-rebuild --seeds 2020 \
    --models SASRec
cp "$(ls -t saved/SASRec-*.pth | head -1)" /work/ckpt/SASRec-ml-100k-seed2020.pth
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-rebuild --seeds 2020 \
    --models BackboneOnly
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-rebuild --seeds 2020 \
    --models ILM-rand-head-distill --set distill_checkpoint=/work/ckpt/GRU4Rec-ml-100k-seed2021.pth
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-sasrec-cf-user --seeds 2020 \
    --models ILM-rand-head-distill,ILM-head-distill --set distill_checkpoint=/work/ckpt/GRU4Rec-ml-100k-seed2021.pth \
    --set cf_source=checkpoint --set cf_checkpoint=/work/ckpt/SASRec-ml-100k-seed2020.pth --set item_head_cf=True \
    --set distill_user_weight=1.0
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-gru4rec-cf-user --seeds 2020 \
    --models ILM-rand-head-distill --set distill_checkpoint=/work/ckpt/GRU4Rec-ml-100k-seed2021.pth \
    --set cf_source=checkpoint --set cf_checkpoint=/work/ckpt/GRU4Rec-ml-100k-seed2021.pth --set item_head_cf=True \
    --set distill_user_weight=1.0
python -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out docs/quality/ablations/ml100k-sasrec-cf --seeds 2020 \
    --models ILM-rand-head-distill --set distill_checkpoint=/work/ckpt/GRU4Rec-ml-100k-seed2021.pth \
    --set cf_source=checkpoint --set cf_checkpoint=/work/ckpt/SASRec-ml-100k-seed2020.pth
