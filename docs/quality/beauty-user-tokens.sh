#!/usr/bin/env bash
# Amazon Beauty: user_tokens table vs full_history on the best Beauty configuration (SASRec's item table as the CF
# input, item_head_cf, SASRec's user vector distilled, GRU4Rec seed 2020's scores distilled, 12 phase-2 epochs).
# Written in the twenty-sixth session (2026-12-07), started in the twenty-seventh. On a fresh 2-core box the
# prerequisites alone take about 3 h of CPU (GRU4Rec ~55 min, phase-0 backbone ~78 min, SASRec ~48 min), each cached
# (/work/ckpt, /work/ilm_cache) and skipped when present; each 12-epoch cell takes ~40 min. One torch process at a
# time; finished cells are not re-run; a killed phase-2 cell resumes with --set resume=saved/<its>.resume.pth.
# Usage: bash docs/quality/beauty-user-tokens.sh   (from the repository root, or a git archive of it with OUT_ROOT)
set -euo pipefail
OUT_ROOT=${OUT_ROOT:-docs/quality/ablations}
DATA=${DATA:-/work/shared/datasets}
TEACHER=/work/ckpt/GRU4Rec-amazon-beauty-seed2020-amd.pth
BASE=(--datasets amazon-beauty --protocols "" --seeds 2020 --set backbone_epochs=20 --set backbone_seed=2020
      --set backbone_stopping_step=3 --set data_path="$DATA" --set ilm_cache_dir=/work/ilm_cache
      --set item_indexing=text --set GRU4Rec:epochs=50)
# each finished cell's head fused with the backbone's id likelihood, w chosen on valid (section "`item_head_cf` at 12
# phase-2 epochs" of docs/results.md), right after the cell so that a session ending later keeps it
fuse() {
  local out=$1 cell fusion ckpt
  for cell in "$OUT_ROOT/$out"/cells/amazon-beauty/ILM-*-seed2020.json; do
    [ -f "$cell" ] || continue
    fusion="$OUT_ROOT/$out/$(basename "${cell%.json}")-fusion.json"
    ckpt=$(python -c 'import json, sys; print(json.load(open(sys.argv[1])).get("checkpoint") or "")' "$cell")
    [ -f "$fusion" ] || [ -z "$ckpt" ] || python -m recbole_ilm.experiments.fusion --checkpoint "$ckpt" --out "$fusion"
  done
}
mkdir -p /work/ckpt
if [ ! -f "$TEACHER" ]; then  # the teacher, as in the fifth session's cell (RecBole saves saved/GRU4Rec-<time>.pth)
  python -m recbole_ilm.experiments.benchmark "${BASE[@]}" --out "$OUT_ROOT/beauty-rebuild-3" --models GRU4Rec
  cp "$(ls -t saved/GRU4Rec-*.pth | head -1)" "$TEACHER"
fi
BEST=("${BASE[@]}" --models ILM-rand-head-distill --set item_head_negatives=1024 --set item_head_id_embedding=True
      --set cf_source=checkpoint --set cf_checkpoint=SASRec --set item_head_cf=True --set distill_top_items=20
      --set distill_checkpoint="$TEACHER" --set distill_user_weight=1.0 --set epochs=12 --set stopping_step=30)
# the first cell trains SASRec (cf_checkpoint, not resumable) before the phase-0 backbone (resumable, one resume
# point per epoch), so a session that ends in the middle loses at most one backbone epoch; both are cached
python -m recbole_ilm.experiments.benchmark "${BEST[@]}" --out "$OUT_ROOT/beauty-best-user-tokens-table"
fuse beauty-best-user-tokens-table
# the phase-0 backbone alone (from the cache): compare its test ranks with beauty-rebuild-2's
python -m recbole_ilm.experiments.benchmark "${BASE[@]}" --out "$OUT_ROOT/beauty-rebuild-3" --models BackboneOnly
python -m recbole_ilm.experiments.benchmark "${BEST[@]}" --out "$OUT_ROOT/beauty-best-user-tokens-full-history" \
    --set user_tokens=full_history
fuse beauty-best-user-tokens-full-history
# ILM > ILM-rand under the same user tokens (added in the twenty-seventh session): phase 1 before the full_history
# cell; its UIC pairs each training row with its target and reads the row's full_history vector, as phase 2 does
python -m recbole_ilm.experiments.benchmark "${BEST[@]/ILM-rand-head-distill/ILM-head-distill}" \
    --out "$OUT_ROOT/beauty-best-user-tokens-full-history" --set user_tokens=full_history
fuse beauty-best-user-tokens-full-history
# user tokens from SASRec itself (twenty-ninth session): its sequence encoder's user vector of the row's history, in
# its item table's geometry (user_tokens: cf_model); the head's CF term had copied that vector only in part
# (docs/quality/head_terms.py on the full_history cell: relative squared error 0.54, bottom third 0.0008 vs 0.0174)
python -m recbole_ilm.experiments.benchmark "${BEST[@]}" --out "$OUT_ROOT/beauty-best-user-tokens-cf-model" \
    --set user_tokens=cf_model
fuse beauty-best-user-tokens-cf-model
# the same with 10x the user-vector distillation (twenty-ninth session): with cf_model the CF term still copied
# SASRec's user vector only in part (head_terms.py: relative squared error 0.53 at distill_user_weight 1)
python -m recbole_ilm.experiments.benchmark "${BEST[@]}" --out "$OUT_ROOT/beauty-best-cf-model-user-weight-10" \
    --set user_tokens=cf_model --set distill_user_weight=10.0
fuse beauty-best-cf-model-user-weight-10
# the weight itself (thirtieth session; 10 was the first value tried): 30, chosen against 10 on valid NDCG@10
python -m recbole_ilm.experiments.benchmark "${BEST[@]}" --out "$OUT_ROOT/beauty-best-cf-model-user-weight-30" \
    --set user_tokens=cf_model --set distill_user_weight=30.0
fuse beauty-best-cf-model-user-weight-30
# phase 1 under the new best (ILM vs ILM-rand; with full_history and weight 1 it cost -0.0013 +- 0.0005 fused)
python -m recbole_ilm.experiments.benchmark "${BEST[@]/ILM-rand-head-distill/ILM-head-distill}" \
    --out "$OUT_ROOT/beauty-best-cf-model-user-weight-10" --set user_tokens=cf_model --set distill_user_weight=10.0
fuse beauty-best-cf-model-user-weight-10
# weight 10 with full_history's user tokens: is SASRec's vector behind the user tokens needed, or only the weight?
python -m recbole_ilm.experiments.benchmark "${BEST[@]}" --out "$OUT_ROOT/beauty-best-full-history-user-weight-10" \
    --set user_tokens=full_history --set distill_user_weight=10.0
fuse beauty-best-full-history-user-weight-10
# then: python -m recbole_ilm.experiments.paired <cell or fusion .json> <cell or fusion .json>
