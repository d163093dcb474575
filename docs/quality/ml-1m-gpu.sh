#!/bin/bash
# Issue 12, ML-1M on a lent GPU in one device call (at most 10 minutes): a probe cell measures this machine's
# throughput, then ILM-head (phase 0 to early stopping or to the time left, phase 1, phase 2), BackboneOnly on the
# same cached backbone and, time permitting, ILM-rand-head. Same recipe as the CPU cells (fp32, batch 64,
# train_sample_ratio 0.18, backbone_seed 2020, seed 2020); only the number of phase-0/2 epochs follows the clock.
# Run from the repository root after ../shared/tools/gpu-bundle.sh (.whl, .data) and with .gpu/site holding a
# stand-in for ray (RecBole's quick_start imports it; not on the GPU image) and the all-MiniLM-L6-v2 tokenizer files
# (the Q-Former's text tokenizer; no weights): device run with carry [.whl, .data, .gpu] and OUT set.
set -u
OUT=${OUT:-/tmp/ml1m-gpu}; W=${W:-/tmp/ml1m-work}; mkdir -p "$OUT" "$W"; export OUT W
START=$(date +%s); DEADLINE=$(( START + ${BUDGET_S:-520} ))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
export PYTHONPATH=$PWD:/tmp/site:$PWD/.gpu/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/machine.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
 'transformers', transformers.__version__)" | tee -a "$OUT/machine.txt"
COMMON=(${FLAGS:-} --datasets ml-1m  # FLAGS=--smoke: tiny models, to test this script on a CPU
        --protocols "" --set data_path=.data --set ilm_cache_dir=$W/cache
        --set backbone_seed=2020)
finish() {  # flat copies: only two folder levels come back from $OUT
    cp $W/q/cells/ml-1m/*.json "$OUT"/ 2>/dev/null
    cp $W/probe/cells/ml-1m/ILM-head-seed1.json "$OUT"/probe-ILM-head.json 2>/dev/null
    tar czf "$OUT/logs.tgz" log 2>/dev/null
    echo "finished after $(( $(date +%s) - START )) s"
}
trap finish EXIT

# 1. probe: the same models and sizes on 2 % of the training rows, one epoch per phase (phase 1: one epoch)
python3 -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out $W/probe --models ILM-head --seeds 1 \
    --set train_sample_ratio=0.02 --set backbone_epochs=1 --set epochs=1 --set phase1_epochs=1 || exit 1
[ -f $W/probe/cells/ml-1m/ILM-head-seed1.json ] || { grep -h -B2 -A20 Traceback log/*/*.log | tail -40; exit 1; }

# 2. budgets from the probe: epoch time = rows / measured examples/s + the measured validation pass
read -r E P <<<"$(python3 - "$(left)" <<'PY'
import glob, json, os, re, sys
left = float(sys.argv[1])
cell = json.load(open(os.environ["W"] + "/probe/cells/ml-1m/ILM-head-seed1.json"))
thr0 = cell["throughput"]["0"][0]["examples_per_s"]; thr2 = cell["throughput"]["2"][0]["examples_per_s"]
rows = cell["stats"]["examples_seen"]["phase0"] / 0.02                 # training rows of ML-1M
log = max(glob.glob("log/ILM/*.log"), key=os.path.getmtime)
evals = [float(x) for x in re.findall(r"evaluating \[time: ([0-9.]+)s", open(log).read())]
v0, v2 = evals[0], evals[-1]
fixed = cell["train_and_test_seconds"] - 0.02 * rows * (1 / thr0 + 1 / thr2) - v0 - v2   # data, iALS, phase 1, test
e0, e2 = 0.18 * rows / thr0 + v0, 0.18 * rows / thr2 + v2
avail = left - 60 - fixed                      # 60 s: the BackboneOnly cell and the copies
E = max(1, min(20, int(0.6 * avail // e0)))     # phase 0 first (the lever on ml-100k), up to 20 epochs
P = max(1, min(6, int((avail - E * e0) // e2)))  # phase 2: the rest, up to 6 epochs (as on ml-100k)
print(E, P)
print(f"rows {rows:.0f} thr0 {thr0} thr2 {thr2} v0 {v0} v2 {v2} fixed {fixed:.0f} e0 {e0:.0f} e2 {e2:.0f} "
      f"left {left:.0f} -> backbone_epochs {E}, epochs {P}", file=open(os.environ["OUT"] + "/budget.txt", "w"))
PY
)"
echo "budget: backbone_epochs=$E epochs=$P (left $(left) s)" | tee -a "$OUT/budget.txt"

# 3. the cells (a cell killed by the deadline leaves no JSON, only its log)
timeout "$(left)" python3 -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out $W/q --models ILM-head \
    --seeds 2020 --set backbone_epochs="$E" --set epochs="$P"
timeout "$(left)" python3 -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out $W/q --models BackboneOnly \
    --seeds 2020 --set backbone_epochs="$E" --set epochs="$P"
timeout "$(left)" python3 -m recbole_ilm.experiments.benchmark "${COMMON[@]}" --out $W/q --models ILM-rand-head \
    --seeds 2020 --set backbone_epochs="$E" --set epochs="$P"
exit 0
