"""Where one full-ranking test pass of the best Beauty head goes: cProfile of a second pass (the first warms up),
sorted by own time. The script behind the profile in docs/results.md, "Evaluation batches grouped by history length":

    python docs/quality/eval_profile.py 64     # eval_batch_size; needs /work/ilm_cache (the cached backbone, SASRec)
"""
import cProfile, pstats, sys, time, io
from recbole_ilm.experiments.benchmark import resolve
from recbole_ilm.experiments.cell_stats import target_ranks
from recbole_ilm.quick_start import run_recbole_ilm
bs = int(sys.argv[1]); sys.argv = sys.argv[:1]
model, variant = resolve("ILM-rand-sasrec-cf")
config = {"epochs": 0, "show_progress": False, **variant, "distill_weight": 0.0, "distill_top_items": 0,
          "data_path": "/work/shared/datasets", "seed": 2020, "backbone_epochs": 20, "backbone_seed": 2020,
          "backbone_stopping_step": 3, "ilm_cache_dir": "/work/ilm_cache", "eval_batch_size": bs, "state": "WARNING"}
def timed(trainer, train_data, test_data):
    start = time.time(); target_ranks(trainer, test_data); warm = time.time() - start
    pr = cProfile.Profile(); start = time.time(); pr.enable(); target_ranks(trainer, test_data); pr.disable()
    t = time.time() - start
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(18); print(s.getvalue()[:6000])
    print("batch", bs, "warm", round(warm, 2), "profiled", round(t, 2))
run_recbole_ilm(model=model, dataset="amazon-beauty", config_dict=config, saved=False, after_test=timed)
