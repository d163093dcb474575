"""The benchmark harness in its CPU smoke mode (tiny settings on ml-100k): table, chart, resumability."""

import glob
import json
import os
import subprocess
import sys

import torch

from conftest import ROOT

from recbole_ilm.experiments.benchmark import markdown, with_finished


def _cell(out, dataset, label, seed, ndcg, machine=None):
    os.makedirs(os.path.join(out, "cells", dataset), exist_ok=True)
    metrics = {"hit@5": 0.1, "ndcg@5": 0.05, "hit@10": 0.2, "ndcg@10": ndcg}
    with open(os.path.join(out, "cells", dataset, f"{label}-seed{seed}.json"), "w") as f:
        json.dump({"test": metrics, "train_and_test_seconds": 10.0} | ({"machine": machine} if machine else {}), f)


def test_the_report_keeps_the_folders_other_cells(tmp_path):
    out = str(tmp_path)
    _cell(out, "ml-100k", "SASRec", 1, 0.05)
    _cell(out, "ml-100k", "ILM-rand-head-distill", 1, 0.02)
    _cell(out, "ml-100k", "ILM-rand-head-distill", 2, 0.04)
    _cell(out, "ml-1m", "GRU4Rec", 1, 0.1)
    with open(os.path.join(out, "cells", "ml-100k", "SASRec-seed1.log"), "w") as f:
        f.write("a log next to a cell is not a cell")
    open(os.path.join(out, "cells", "notes.txt"), "w").close()  # nor is a file beside the dataset folders
    found = with_finished(out, ["ml-100k"], ["SASRec"], [1])
    assert found == (["ml-100k", "ml-1m"], ["SASRec", "ILM-rand-head-distill", "GRU4Rec"], [1, 2])
    table = markdown(out, *found)
    assert "| SASRec | 1 | 0.1000 | 0.0500 | 0.2000 | 0.0500 |" in table
    assert "| ILM-rand-head-distill | 2 |" in table and "0.0300 ± 0.0100" in table  # both seeds, mean ± s.e.
    assert table.splitlines()[1] == "Cells record no machine (run before it was kept)."
    _cell(out, "ml-1m", "GRU4Rec", 2, 0.1, {"cpu": "AMD EPYC", "cpu_capability": "AVX2", "gpu": None})
    _cell(out, "ml-1m", "SASRec", 2, 0.1, {"cpu": "AMD EPYC", "cpu_capability": "AVX512", "gpu": "NVIDIA H100"})
    header = markdown(out, *with_finished(out, ["ml-100k"], ["SASRec"], [1])).splitlines()[1]
    assert header == "Cells ran on: AMD EPYC (AVX2); AMD EPYC (AVX512, NVIDIA H100)."
    assert "### ml-1m" in table and "| GRU4Rec | 1 |" in table


def test_benchmark_smoke_writes_table_chart_and_resumes(tmp_path):
    out = str(tmp_path / "bench")
    cmd = [sys.executable, "-m", "recbole_ilm.experiments.benchmark", "--smoke", "--models", "SASRec,ILM-rand",
           "--datasets", "ml-100k", "--seeds", "1", "--out", out, "--protocols", "beam_constrained:seen",
           "--set", f"checkpoint_dir={tmp_path / 'saved'}"]
    env = {**os.environ, "PYTHONPATH": ROOT}
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    table = open(os.path.join(out, "results.md")).read()
    assert "| SASRec | 1 |" in table and "| ILM-rand | 1 |" in table and "beam_constrained:seen" in table
    assert os.path.getsize(os.path.join(out, "chart.png")) > 1000
    cell = json.load(open(os.path.join(out, "cells", "ml-100k", "ILM-rand-seed1.json")))
    assert cell["config"]["phase1_epochs"] == 0 and 0 <= cell["test"]["ndcg@10"] <= 1
    # what it ran on, the kernels' instruction set included (it changes a long training's weights)
    assert cell["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and cell["machine"]["cpu"]
    assert os.path.isfile(cell["checkpoint"])  # the trained model, e.g. for the fusion tool
    assert f"({torch.backends.cpu.get_cpu_capability()})" in table.splitlines()[1]
    # the SASRec cell's checkpoint is stored where cf_checkpoint: SASRec (same recipe and seed) looks for it
    [stored] = glob.glob(str(tmp_path / "saved" / "ilm_cache" / "ml-100k" / "recbole-SASRec-*" / "meta.json"))
    sasrec = json.load(open(os.path.join(out, "cells", "ml-100k", "SASRec-seed1.json")))
    assert json.load(open(stored))["test"] == sasrec["test"]
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert second.returncode == 0 and second.stdout.count("[done]") == 2 and "[run ]" not in second.stdout
    assert "| SASRec | 1 |" in table and "NDCG@10 by target popularity" in table and " | — |" not in table
    report = subprocess.run(cmd[:5] + ["SASRec,GRU4Rec"] + cmd[6:] + ["--report"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=300)
    assert report.returncode == 0 and "[run ]" not in report.stdout and "| GRU4Rec |" not in report.stdout
    assert "| SASRec | 1 |" in report.stdout and "| ILM-rand | 1 |" in report.stdout  # the folder's other cell


def test_a_killed_llm_cell_continues_from_its_last_epoch_when_the_command_runs_again(tmp_path):
    """The harness gives each LLM cell a resume file of its own: killed after a phase-2 epoch, the same command
    continues from there and ends with the uninterrupted cell's numbers; the resume file goes once the cell is done."""
    from conftest import toy_config, write_toy_dataset

    root = str(tmp_path / "data")
    write_toy_dataset(root, name="big")
    config = toy_config(root, str(tmp_path / "saved"), epochs=2, stopping_step=10, train_batch_size=16)
    sets = sum((["--set", f"{key}={json.dumps(value)}"] for key, value in config.items()), [])  # JSON is YAML

    def bench(out, kill_after=None):
        env = {**os.environ, "PYTHONPATH": ROOT}
        env.pop("RECBOLE_ILM_KILL_AFTER", None)
        if kill_after:
            env["RECBOLE_ILM_KILL_AFTER"] = kill_after  # the cell's process SIGKILLs itself after that resume point
        cmd = [sys.executable, "-m", "recbole_ilm.experiments.benchmark", "--models", "ILM-rand", "--datasets", "big",
               "--seeds", "1", "--out", str(tmp_path / out), "--protocols", "", *sets]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)

    def cell(out):
        path = tmp_path / out / "cells" / "big" / "ILM-rand-seed1.json"
        return json.load(open(path)) if path.exists() else None

    assert bench("whole").returncode == 0 and "resumed_after" not in cell("whole")
    killed = bench("killed", kill_after="2:0")
    assert "[fail] big ILM-rand seed 1" in killed.stderr and cell("killed") is None
    [resume] = glob.glob(str(tmp_path / "saved" / "benchmark-resume" / "ILM-rand-big-seed1-*.resume.pth"))
    assert json.load(open(resume + ".json")) == {"phase": 2, "epoch": 0}
    assert bench("killed").returncode == 0
    done, whole = cell("killed"), cell("whole")
    assert done["resumed_after"] == {"phase": 2, "epoch": 0}
    assert done["test"] == whole["test"] and done["valid"] == whole["valid"]
    assert done["stats"]["examples_seen"] == whole["stats"]["examples_seen"]  # the epochs before the kill count
    assert os.listdir(tmp_path / "saved" / "benchmark-resume") == []
