"""Attention masks shared by the Q-Former and the LLM's trie scoring."""

import torch


def additive_mask(allowed, dtype):
    """``[B, Q, K]`` bool (True = may attend) -> ``[B, 1, Q, K]`` additive float mask."""
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask.unsqueeze(1)
