#!/bin/bash
# Issue 12, Amazon Beauty on a lent GPU: one seed of the best configuration ("Both levers together" in
# docs/results.md: text ids, ILM-rand-head-distill, 1,024 sampled columns, item_head_id_embedding, 24 phase-2 epochs,
# distill_top_items 20) on the shared cached 20-epoch backbone, then the fusion tool on its checkpoint, on the card.
# Neither the phase-2 checkpoint (46 MB) nor the resume file can come back from a device call (over the size a
# returned file may have), so the fusion runs there and the cell, the fusion JSON and the logs come back.
#
# Here, once (fills the git-ignored .beauty/ with the cached backbone, prompts, the seed's iALS factors and teacher):
#   SEED=2022 IALS=ials-13230aac9f54 bash docs/quality/beauty-gpu.sh --prepare
#   (cache dirs of /work/ilm_cache/amazon-beauty: backbone-f64d55c41818, prompts-4c3c72fb27f7; iALS per seed:
#   2020 ials-608f2b56df12, 2021 ials-216afe5b053b, 2022 ials-13230aac9f54; teachers /work/ckpt/GRU4Rec-amazon-beauty-
#   seed<SEED>*.pth), with ../shared/tools/gpu-bundle.sh's .whl and .data and .gpu/site (a stand-in ray, the
#   all-MiniLM-L6-v2 tokenizer files) as for ml-1m-gpu.sh.
# Device: carry [.whl, .data/amazon-beauty, .gpu, .beauty] (≈ 51 MiB), command
#   SEED=2022 BUDGET_S=570 bash docs/quality/beauty-gpu.sh
# A second call on the same warm machine continues from the resume file in saved/ (rewritten after every epoch) and
# runs the fusion once the cell is done. EXTRA="--set ..." adds options (for a short test on a CPU).
set -u
SEED=${SEED:-2022}
if [ "${1:-}" = --prepare ]; then
    CACHE=${CACHE:-/work/ilm_cache/amazon-beauty}
    rm -rf .beauty && mkdir -p .beauty/cache/amazon-beauty .git/info || exit 1
    grep -qx /.beauty/ .git/info/exclude 2>/dev/null || echo /.beauty/ >> .git/info/exclude
    for d in backbone-f64d55c41818 prompts-4c3c72fb27f7 "${IALS:?IALS=ials-<hash> of this seed}"; do
        cp -r "$CACHE/$d" .beauty/cache/amazon-beauty/ || exit 1
    done
    cp "$(ls /work/ckpt/GRU4Rec-amazon-beauty-seed$SEED*.pth | head -1)" .beauty/teacher.pth || exit 1
    du -sh .whl .data/amazon-beauty .gpu .beauty
    exit 0
fi
OUT=${OUT:-/tmp/beauty-gpu}; W=${W:-/tmp/beauty-work}; mkdir -p "$OUT" "$W"
START=$(date +%s); DEADLINE=$(( START + ${BUDGET_S:-560} ))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -c "import recbole" 2>/dev/null || [ -d /tmp/site/recbole ] || python3 -m pip install -q --no-index \
    --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site:$PWD/.gpu/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no GPU"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } >> "$OUT/machine.txt"
C=$W/cache   # (the backbone's cache key names the prompts folder, not its path: a copy anywhere is found)
[ -d "$C/amazon-beauty" ] || { mkdir -p "$C" && cp -r .beauty/cache/amazon-beauty "$C/"; } || exit 1
CELL=$W/combined/cells/amazon-beauty/ILM-rand-head-distill-seed$SEED.json
finish() {  # a handful of files: the cell and fusion JSONs, one .tgz of the logs
    [ -f "$CELL" ] && cp "$CELL" "$OUT/"
    tar czf "$OUT/logs.tgz" log "$W"/*.txt 2>/dev/null
    echo "seed $SEED: call finished after $(( $(date +%s) - START )) s; cell $([ -f "$CELL" ] && echo done || echo open)" \
        | tee -a "$OUT/budget.txt"
}
trap finish EXIT
if [ ! -f "$CELL" ]; then
    RESUME=$(ls -t saved/ILM-amazon-beauty-*.resume.pth 2>/dev/null | head -1)
    echo "seed $SEED: phase 2 from ${RESUME:-the start}, $(left) s left" | tee -a "$OUT/budget.txt"
    timeout "$(left)" python3 -m recbole_ilm.experiments.benchmark --datasets amazon-beauty --protocols "" \
        --set backbone_epochs=20 --set backbone_seed=2020 --set data_path=.data --set ilm_cache_dir=$C \
        --set item_indexing=text --set item_head_negatives=1024 --set item_head_id_embedding=True \
        --set distill_checkpoint=.beauty/teacher.pth --set epochs=24 --set distill_top_items=20 \
        --set stopping_step=30 --set backbone_stopping_step=3 --seeds "$SEED" --models ILM-rand-head-distill \
        --out "$W/combined" ${RESUME:+--set resume=$RESUME} ${EXTRA:-} >> "$W/cell.txt" 2>&1
fi
[ -f "$CELL" ] || exit 0
CK=$(ls -t saved/ILM-amazon-beauty-phase2-*.pth 2>/dev/null | head -1)
[ -n "$CK" ] && [ "$(left)" -gt 60 ] || exit 0
echo "seed $SEED: fusion of $CK, $(left) s left" | tee -a "$OUT/budget.txt"
timeout "$(left)" python3 -m recbole_ilm.experiments.fusion --checkpoint "$CK" --weights 0,0.2,0.3,0.5 \
    --priors=-0.5,-0.25,0 --out "$OUT/ILM-rand-head-distill-seed$SEED-fusion.json" > "$W/fusion.txt" 2>&1
