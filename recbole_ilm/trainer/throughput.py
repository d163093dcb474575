"""Mixed precision and throughput of the training phases.

* ``mixed_precision: bf16`` runs the model under ``torch.autocast(cuda, bfloat16)`` on a GPU; on a CPU it is
  ignored (fp32), so the same profile runs everywhere.
* Every training phase logs examples/s and tokens/s; on CUDA also an MFU estimate: the model FLOPs per token
  (6 x trained parameters + 4 x frozen parameters the gradient flows through, i.e. forward 2N, backward 2N for
  activations and 2N more for weights that train) over the device's peak for the precision in use.
"""

import contextlib
import time

import torch

# dense peak FLOP/s per device name fragment: (bf16, tf32); sources: NVIDIA data sheets (SXM parts, no sparsity)
PEAK_FLOPS = {"H200": (989e12, 495e12), "H100": (989e12, 495e12), "A100": (312e12, 156e12),
              "L40S": (362e12, 183e12), "A10G": (70e12, 35e12), "L4": (121e12, 60e12)}


def use_bf16(config, device):
    return config["mixed_precision"] == "bf16" and torch.device(device).type == "cuda"


def precision(config, device):
    """The autocast context of this run (a no-op on CPU or without ``mixed_precision: bf16``)."""
    if use_bf16(config, device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def peak_flops(device, bf16):
    if torch.device(device).type != "cuda":
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    for fragment, (peak_bf16, peak_tf32) in PEAK_FLOPS.items():
        if fragment in name:
            return peak_bf16 if bf16 else peak_tf32
    return None


def flops_per_token(model, phase):
    """Training FLOPs per prompt token: 6N for trained weights, 4N for frozen weights gradients pass through."""
    llm = sum(p.numel() for p in model.llm.parameters())
    if phase == 0:
        return 6 * llm
    encoder = sum(p.numel() for p in model.item_encoder.parameters()) if model.item_encoder is not None else 0
    return 4 * llm + 6 * encoder / max(model.num_slots, 1)


class Meter:
    """Counts examples and tokens between :meth:`start` and :meth:`stop` (the model adds to ``examples``/``tokens``)."""

    def __init__(self):
        self.examples = self.tokens = 0
        self.began = None

    def start(self):
        self.examples = self.tokens = 0
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.began = time.time()

    def add(self, examples, tokens):
        self.examples += int(examples)
        self.tokens += int(tokens)

    def stop(self, flops_per_token=None, peak=None):
        """``{examples_per_s, tokens_per_s, seconds, mfu?}`` since :meth:`start`."""
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = max(time.time() - self.began, 1e-9)
        out = {"seconds": round(seconds, 2), "examples": self.examples, "tokens": self.tokens,
               "examples_per_s": round(self.examples / seconds, 1), "tokens_per_s": round(self.tokens / seconds, 1)}
        if flops_per_token and peak:
            out["mfu"] = round(flops_per_token * self.tokens / seconds / peak, 4)
        return out


def describe(stats):
    text = f"{stats['examples_per_s']:.1f} examples/s"
    text += f", {stats['tokens_per_s']:.0f} tokens/s" if stats["tokens"] else ""
    return text + (f", MFU {100 * stats['mfu']:.1f}%" if "mfu" in stats else "")
