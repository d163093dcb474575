"""The benchmark harness in its CPU smoke mode (tiny settings on ml-100k): table, chart, resumability."""

import json
import os
import subprocess
import sys

from conftest import ROOT


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
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert second.returncode == 0 and second.stdout.count("[done]") == 2 and "[run ]" not in second.stdout
    assert "| SASRec | 1 |" in table and "NDCG@10 by target popularity" in table and " | — |" not in table
    report = subprocess.run(cmd[:5] + ["SASRec,GRU4Rec"] + cmd[6:] + ["--report"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=300)
    assert report.returncode == 0 and "[run ]" not in report.stdout and "| GRU4Rec |" not in report.stdout
    assert "| SASRec | 1 |" in report.stdout
