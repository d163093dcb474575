#!/bin/bash
# Issue 12, ML-1M on a lent GPU, in one device call or in two on the same warm machine (STAGES=1, then STAGES=2).
# The plugin's models are small (a 2-layer, 128-wide backbone), so one card is launch-bound at batch 64 (0.1-0.3 %
# MFU, measured on an H200): independent cells run side by side on it, each process with a few CPU threads.
#   probe    BackboneOnly at batch 64 and 256 on 2 % of the rows, one epoch: measured prompts/s of each
#   stage 1  GRU4Rec (the protocol's baseline, up to 40 epochs, stopping_step 10; it is also the teacher), and the
#            phase-0 backbone at batch 64 (the CPU recipe) and at batch 256 (both learning rates x2), as many
#            epochs as the clock allows, each tested as BackboneOnly
#   stage 2  on the backbone with the better *valid* NDCG@10: ILM-head-distill (teacher: that GRU4Rec),
#            ILM-rand-head-distill and ILM-head, phase-2 epochs sized to the time left
#   stage L  (alone) the long backbone: GRU4Rec (the teacher) and the phase-0 backbone at batch 64 with
#            backbone_epochs=$E (default 12), until the clock stops it; a later call with STAGES=L continues it from
#            its resume file (rewritten after every epoch) and, once phase 0 ends, tests it as BackboneOnly. The
#            cache, teacher and resume file come back in teacher-and-cache.tgz, for phase 2 on a CPU.
#            TSEEDS="2021 2022": after ML-1M's GRU4Rec, Amazon Beauty GRU4Rec teachers of those seeds, one after
#            another beside the backbone (saved/beauty-<seed>/, back as gru-beauty-<seed>.pth; cells in beauty/)
#   stage T  (without L) those Amazon Beauty baselines only, the seeds side by side: TMODELS (default GRU4Rec; e.g.
#            "SASRec GRU4Rec") x TSEEDS, up to TEPOCHS epochs (default 50; RecBole's SASRec reference needed 75)
# Everything else is the CPU cells' recipe (fp32, train_sample_ratio 0.18, backbone_seed 2020, seed 2020).
# Run from the repository root after ../shared/tools/gpu-bundle.sh (.whl, .data) with .gpu/site holding a stand-in
# for ray (RecBole's quick_start imports it; not on the GPU image) and the all-MiniLM-L6-v2 tokenizer files (the
# Q-Former's text tokenizer; no weights): device run, carry [.whl, .data, .gpu], OUT and BUDGET_S (seconds this
# call may use) set. FLAGS=--smoke EMAX=1: tiny models and one epoch, to test this script on a CPU.
set -u
OUT=${OUT:-/tmp/ml1m-gpu}; W=${W:-/tmp/ml1m-work}; STAGES=${STAGES:-12}; mkdir -p "$OUT" "$W"; export OUT W
START=$(date +%s); DEADLINE=$(( START + ${BUDGET_S:-560} ))
left() { echo $(( DEADLINE - $(date +%s) )); }
[ -d /tmp/site/recbole ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site:$PWD/.gpu/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/machine.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
 'transformers', transformers.__version__)" | tee -a "$OUT/machine.txt"
B256=(--set train_batch_size=256 --set backbone_learning_rate=0.004 --set learning_rate=0.002)
bench() {  # bench <out folder> <models> [options]: one harness call, seed 2020, logged to $W/<folder>.txt
    local out=$1 models=$2; shift 2
    timeout "$(left)" python3 -m recbole_ilm.experiments.benchmark ${FLAGS:-} --datasets ml-1m --protocols "" \
        --set data_path=.data --set ilm_cache_dir=$W/cache --set backbone_seed=2020 --seeds 2020 \
        --out "$W/$out" --models "$models" "$@" >> "$W/$out.txt" 2>&1
}
cell() { echo "$W/$1/cells/ml-1m/$2-seed2020.json"; }
finish() {  # few files: a device call brings back only a handful from $OUT (measured: 8)
    tar czf "$OUT/results.tgz" -C "$W" --exclude=./cache . 2>/dev/null   # cells, harness output, stage1.env
    tar czf "$OUT/logs.tgz" log 2>/dev/null
    tar czf "$OUT/teacher-and-cache.tgz" saved/GRU4Rec-*.pth saved/*.resume.pth* "$W/cache" 2>/dev/null
    for seed in ${TSEEDS:-}; do   # one file each: two teachers in one .tgz passed the 16 MB a file may bring back
        P=$(ls -t saved/beauty-$seed/GRU4Rec-*.pth 2>/dev/null | head -1); [ -z "$P" ] || cp "$P" "$OUT/gru-beauty-$seed.pth"
    done
    echo "stages $STAGES finished after $(( $(date +%s) - START )) s" | tee -a "$OUT/budget.txt"
}
trap finish EXIT
teachers() {  # Amazon Beauty baselines (TMODELS, default GRU4Rec; stopping_step 10) for each seed in $TSEEDS, one
    # after another: GRU4Rec is the teacher of the CPU Beauty phase-2 cells of that seed; each in saved/beauty-<seed>/
    for seed in ${TSEEDS:-}; do
        for model in ${TMODELS:-GRU4Rec}; do
            [ -f "$W/beauty/cells/amazon-beauty/$model-seed$seed.json" ] && continue
            [ "$(left)" -gt 60 ] || return
            timeout "$(left)" python3 -m recbole_ilm.experiments.benchmark ${FLAGS:-} --datasets amazon-beauty \
                --protocols "" --set data_path=.data --set ilm_cache_dir=$W/cache --set backbone_seed=2020 \
                --set backbone_epochs=20 --set epochs=6 --set "$model:epochs=${TEPOCHS:-50}" \
                --set checkpoint_dir=saved/beauty-$seed --seeds "$seed" --out "$W/beauty" --models "$model" \
                >> "$W/beauty-$seed.txt" 2>&1
        done
    done
}

if [[ $STAGES == *L* ]]; then
    RESUME=$(ls -t saved/BackboneOnly-ml-1m-*.resume.pth 2>/dev/null | head -1)
    ( [ -n "$RESUME" ] || [ -f "$(cell gru GRU4Rec)" ] || bench gru GRU4Rec --set GRU4Rec:epochs=40; teachers ) &
    echo "long backbone: backbone_epochs ${E:-12}, resume from '${RESUME:-none}'" | tee -a "$OUT/budget.txt"
    bench long BackboneOnly --set backbone_epochs="${E:-12}" ${RESUME:+--set resume=$RESUME}
    wait
elif [[ $STAGES == *T* ]]; then   # alone: the seeds side by side (the card is launch-bound)
    for seed in ${TSEEDS:-}; do TSEEDS=$seed teachers & done
    wait
fi

if [[ $STAGES == *1* ]]; then
    # GRU4Rec runs through stage 1 (the reference's ML-1M fit: 17 epochs, 156 s on an H100)
    bench gru GRU4Rec --set GRU4Rec:epochs=40 &
    echo $! > "$W/gru.pid"
    # probe: prompts/s at each batch size (the prompts, tokenizer and iALS factors it builds are cached for later)
    PROBE=(--set train_sample_ratio=0.02 --set backbone_epochs=1)
    bench p64 BackboneOnly "${PROBE[@]}" & P1=$!
    bench p256 BackboneOnly "${PROBE[@]}" "${B256[@]}" & P2=$!
    wait $P1 $P2
    RESERVE=0; [[ $STAGES == *2* ]] && RESERVE=240   # stage 2's share when both run in this call
    python3 - "$(left)" "$RESERVE" "$(cell p64 BackboneOnly)" "$(cell p256 BackboneOnly)" > "$W/stage1.env" <<'PY' || exit 1
import json, os, sys
left, reserve = float(sys.argv[1]), float(sys.argv[2])
cells = [json.load(open(path)) for path in sys.argv[3:]]
rows = cells[0]["stats"]["examples_seen"]["phase0"] / 0.02
t64, t256 = (c["throughput"]["0"][0]["examples_per_s"] for c in cells)
window = left - reserve - 45      # 45 s: data loading and the test pass
E64, E256 = (max(1, min(int(os.environ.get("EMAX", 20)), int(window // (0.18 * rows / t + 2)))) for t in (t64, t256))
print(f"E64={E64} E256={E256} ROWS={rows:.0f}")
print(f"rows {rows:.0f}, probe prompts/s: batch 64 {t64}, batch 256 {t256}; left {left:.0f} s -> "
      f"backbone_epochs {E64} (batch 64), {E256} (batch 256)", file=open(os.environ["OUT"] + "/budget.txt", "a"))
PY
    source "$W/stage1.env"
    bench b64 BackboneOnly --set backbone_epochs="$E64" & P1=$!
    bench b256 BackboneOnly --set backbone_epochs="$E256" "${B256[@]}" & P2=$!
    wait $P1 $P2
    [[ $STAGES == *2* ]] || wait   # a call that ends here waits for GRU4Rec too
fi

if [[ $STAGES == *2* ]]; then
    source "$W/stage1.env" || exit 1
    GRU=$(cat "$W/gru.pid")
    for _ in $(seq 12); do kill -0 "$GRU" 2>/dev/null || break; sleep 5; done   # the teacher: at most 60 s more
    # the backbone with the better valid NDCG@10 (a missing cell counts as 0); phase-2 epochs from the time left
    read -r PICK P <<<"$(python3 - "$(left)" "$ROWS" "$(cell b64 BackboneOnly)" "$(cell b256 BackboneOnly)" <<'PY'
import json, os, sys
left, rows, paths = float(sys.argv[1]), float(sys.argv[2]), dict(zip(("b64", "b256"), sys.argv[3:]))
cells = {n: json.load(open(p)) for n, p in paths.items() if os.path.isfile(p)}
valid = {n: c["valid"]["ndcg@10"] for n, c in cells.items()}
pick = max(valid, key=valid.get)
thr2 = cells[pick]["throughput"]["0"][0]["examples_per_s"] / 2 * 0.5   # phase 2 ~ half of phase 0; 3 side by side
P = max(1, min(6, int((left - 90) // (0.18 * rows / thr2 + 2))))
print(pick, P)
print(f"valid NDCG@10 {valid} -> stage 2 on {pick}; phase-2 epochs {P} (left {left:.0f} s)",
      file=open(os.environ["OUT"] + "/budget.txt", "a"))
PY
)"
    [ -n "${PICK:-}" ] || exit 1
    E=$E64; SIZE=(); [ "$PICK" = b256 ] && { E=$E256; SIZE=("${B256[@]}"); }
    TEACHER=$(ls saved/GRU4Rec-*.pth 2>/dev/null | head -1); kill -0 "$GRU" 2>/dev/null && TEACHER=""  # unfinished
    STAGE2=(--set backbone_epochs="$E" --set epochs="$P" --set eval_batch_size=1024 "${SIZE[@]}")
    if [ -n "$TEACHER" ]; then
        bench s2 ILM-head-distill "${STAGE2[@]}" --set distill_checkpoint="$TEACHER" &
        bench s2 ILM-rand-head-distill "${STAGE2[@]}" --set distill_checkpoint="$TEACHER" &
    fi
    bench s2 ILM-head "${STAGE2[@]}" &
    wait
fi
exit 0
