"""Resume points: everything needed to continue a killed run exactly where its last epoch ended.

A resume file (``<run>.resume.pth``, rewritten atomically after every validated epoch of phases 0 and 2 and
every phase-1 epoch) holds the model, the phase and epoch, the phase's optimizer / scheduler / early-stopping
state, the phase-1 alternation position, and every random state that decides what happens next (torch, numpy,
python, the train dataloader's shuffling generator and its template sampler). Only tensors and plain data are
stored, so it loads with ``weights_only=True``.
"""

import random

import numpy as np
import torch


def _numpy_state():
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(d):
    np.random.set_state((d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["gauss"]))


def _python_state():
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _set_python_state(d):
    random.setstate((d["version"], tuple(d["internal"]), d["gauss"]))


def capture_rng(train_data=None):
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": _python_state(),
    }
    if train_data is not None:
        state["loader"] = train_data.generator.get_state()
        if hasattr(train_data, "layout_rng"):
            state["layout"] = train_data.layout_rng.bit_generator.state  # a dict of ints and strings
    return state


def restore_rng(state, train_data=None):
    torch.set_rng_state(state["torch"])
    _set_numpy_state(state["numpy"])
    _set_python_state(state["python"])
    if train_data is not None and "loader" in state:
        train_data.generator.set_state(state["loader"])
        if "layout" in state and hasattr(train_data, "layout_rng"):
            train_data.layout_rng.bit_generator.state = state["layout"]


KILL_ENV = "RECBOLE_ILM_KILL_AFTER"


def kill_point(phase, epoch):
    """Fault injection for the resume tests: ``RECBOLE_ILM_KILL_AFTER=<phase>:<epoch>`` SIGKILLs this process right
    after that epoch's resume point is written (a real kill: no cleanup, no exception handlers)."""
    import os
    import signal

    if os.environ.get(KILL_ENV) == f"{phase}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


def phase_seed(seed, phase):
    """The seed of every random source during ``phase``: a function of (seed, phase) only."""
    return int(seed) + 1_000_003 * (int(phase) + 1)


def seed_phase(config, phase, train_data=None):
    """Reseed torch, numpy, python, the train loader's shuffle generator and its template sampler from
    (seed, phase), so a phase sees the same data and draws whatever ran before it (e.g. phase 0 trained here or
    loaded from the cache)."""
    from recbole.utils import init_seed

    seed = phase_seed(config["seed"], phase)
    init_seed(seed + config["local_rank"], config["reproducibility"])
    if train_data is not None:
        train_data.generator.manual_seed(seed)
        if hasattr(train_data, "layout_rng"):
            train_data.layout_rng = np.random.default_rng(seed + config["local_rank"])
    return seed
