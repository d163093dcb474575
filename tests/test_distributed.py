"""Issue 6: training with torch.distributed on CPU (gloo, 2 processes), contrastive negatives from all ranks."""

import os
import socket

import torch
import torch.multiprocessing as mp

from recbole_ilm.alignment import losses as L


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    f = lambda *shape: torch.nn.functional.normalize(torch.randn(*shape, generator=g), dim=-1)  # noqa: E731
    return f(8, 3, 16), f(8, 16), f(8, 3, 16)


def _rank_losses(rank, port, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=2, init_method=f"tcp://localhost:{port}")
    q, t, b = _batch()
    half = slice(rank * 4, rank * 4 + 4)
    q, t, b = (x[half].clone().requires_grad_() for x in (q, t, b))
    itc = L.itc_loss(q, t, torch.tensor(0.1))
    iic = L.iic_loss(q, b, torch.tensor(0.1))
    (itc + iic).backward()
    torch.save({"itc": itc.detach(), "iic": iic.detach(), "grad_q": q.grad}, os.path.join(out, f"{rank}.pt"))
    dist.barrier()  # no rank tears gloo down while the other still talks to it (SIGABRT seen in CI without it)
    dist.destroy_process_group()


def test_gathered_contrastive_losses_equal_the_full_batch_losses(tmp_path):
    mp.spawn(_rank_losses, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)]
    q, t, b = (x.clone().requires_grad_() for x in _batch())
    itc, iic = L.itc_loss(q, t, torch.tensor(0.1)), L.iic_loss(q, b, torch.tensor(0.1))
    (itc + iic).backward()
    torch.testing.assert_close((ranks[0]["itc"] + ranks[1]["itc"]) / 2, itc.detach())
    torch.testing.assert_close((ranks[0]["iic"] + ranks[1]["iic"]) / 2, iic.detach())
    # all_gather's backward brings the other rank's gradient home: the averaged gradients are the full batch's
    grads = torch.cat([ranks[0]["grad_q"], ranks[1]["grad_q"]]) / 2
    torch.testing.assert_close(grads, q.grad)


def test_two_process_gloo_run_trains_every_phase(toy):
    from recbole_ilm.quick_start import run

    config = toy()
    result = run(model="ILM", dataset="toy", config_dict=config, nproc=2, port=str(free_port()))
    assert set(result["test_result"]) == {"hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10"}
    saved = os.listdir(config["checkpoint_dir"])
    for phase in ("phase0", "phase1", "phase2"):
        assert any(name.startswith(f"ILM-toy-{phase}-") for name in saved), saved


def test_two_process_run_trains_a_named_cf_model_once_before_the_ranks(toy, tmp_path):
    """cf_checkpoint: SASRec in a two-process run: the launcher trains it once; the ranks only read the cache (a
    rank asked to train it refuses: the two would race to write one cache entry)."""
    import glob

    from recbole_ilm.checkpoint_io import read_checkpoint
    from recbole_ilm.quick_start import run

    config = toy(cf_source="checkpoint", cf_checkpoint="SASRec",
                 recbole_model_config={"epochs": 1, "hidden_size": 8, "inner_size": 16})
    result = run(model="MLPAdapter", dataset="toy", config_dict=config, nproc=2, port=str(free_port()))
    [path] = glob.glob(str(tmp_path / "saved" / "ilm_cache" / "toy" / "recbole-SASRec-*" / "model.pth"))
    assert "ndcg@10" in result["test_result"]
    phase2 = [f for f in os.listdir(config["checkpoint_dir"]) if f.startswith("MLPAdapter-toy-phase2-")]
    assert read_checkpoint(os.path.join(config["checkpoint_dir"], phase2[0]))["config"]["cf_checkpoint"] == path
