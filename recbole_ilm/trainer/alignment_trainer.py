"""Phase-1 loop: alternate item-text and item-item / user-item batches, log each loss, evaluate held-out items."""

import math
from logging import getLogger
from time import time

import numpy as np
import torch
from recbole.utils import set_color
from tqdm import tqdm

from recbole_ilm.alignment.objective import AlignmentData, active_kinds, batch_losses, evaluate_alignment
from recbole_ilm.trainer.resume import phase_seed
from recbole_ilm.trainer.throughput import Meter, precision


def _process_group():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def lr_schedule(optimizer, kind, total_steps, warmup_steps):
    """Warm-up then ``constant``, ``linear`` decay to 0, or ``cosine`` decay to 0, stepped once per batch."""
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min((step - warmup_steps) / max(1, total_steps - warmup_steps), 1.0)
        if kind == "linear":
            return 1.0 - progress
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class AlignmentTrainer:
    """Trains an :class:`~recbole_ilm.alignment.objective.AlignmentTarget` (ILM's Q-Former with its CF tables and
    item texts, ``model.alignment_target()``) on the configured phase-1 losses."""

    def __init__(self, config, target, train_dataset):
        self.config, self.target = config, target
        self.logger = getLogger()
        self.losses = list(config["phase1_losses"])
        weights = config["phase1_loss_weights"] or {}
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.losses}
        self.data = AlignmentData(target.text_lengths.cpu().numpy(), target.text_tokens.cpu().numpy(), train_dataset,
                                  config["phase1_eval_ratio"], config["seed"],
                                  row_users=target.row_user_vectors is not None)
        self.kinds = active_kinds(config["phase1_schedule"], self.losses, self.data)
        self.text_group = torch.as_tensor(self.data.text_group, device=target.cf_item.device)
        self.rank, self.world = _process_group()
        seed = phase_seed(config["seed"], 1)
        self.rng = np.random.default_rng(seed + self.rank)  # every rank draws its own batches
        self.generator = torch.Generator(device=target.cf_item.device).manual_seed(seed)
        params = [p for p in target.qformer.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config["phase1_learning_rate"], weight_decay=0.05)
        total = config["phase1_epochs"] * config["phase1_steps_per_epoch"]
        self.scheduler = lr_schedule(self.optimizer, "cosine", total, max(1, total // 20))
        self.step = 0
        self.history = []
        self.throughput = []  # per epoch: {examples_per_s (pairs), ...}

    def _average_gradients(self):
        """Distributed: average the Q-Former's gradients over ranks (what DDP's reducer does after backward)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for p in self.target.qformer.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    def describe_data(self):
        d = self.data
        self.logger.info(
            set_color("Phase 1 data", "pink")
            + f": item-text {d.size('item_text')} (+{len(d.eval_items)} held out), item-item {d.size('item_item')}, "
            f"user-item {d.size('user_item')}" + (f" (training rows, user_tokens: {self.config['user_tokens']})"
                                                  if d.train_rows is not None else "")
            + f", items without text {d.items_without_text}; "
            f"losses {self.losses}, batch schedule {self.kinds}"
        )

    def train_epoch(self, epoch, show_progress):
        self.target.qformer.train()
        sums, counts, chance = {}, {}, {}
        steps = range(self.config["phase1_steps_per_epoch"])
        if show_progress:
            steps = tqdm(steps, ncols=100, desc=set_color(f"Align {epoch:>5}", "pink"))
        meter = Meter()
        meter.start()
        for _ in steps:
            kind = self.kinds[self.step % len(self.kinds)]
            batch = self.data.sample(kind, self.config["phase1_batch_size"], self.rng).to(self.target.cf_item.device)
            users = None
            if kind == "user_item" and self.data.train_rows is not None:
                with torch.no_grad():  # fixed inputs: built from the CF tables, which phase 1 does not train
                    users = self.target.row_user_vectors(self.data.user_rows(batch[:, 0]))
            with precision(self.config, self.target.cf_item.device):
                values, chances = batch_losses(self.target, kind, batch, self.losses, self.text_group,
                                               self.generator, users)
            meter.add(len(batch), 0)
            loss = sum(self.weights[name] * value for name, value in values.items())
            if torch.isnan(loss):
                raise ValueError(f"phase-1 loss is nan at step {self.step} ({kind} batch)")
            self.optimizer.zero_grad()
            loss.backward()
            self._average_gradients()
            torch.nn.utils.clip_grad_norm_(self.target.qformer.parameters(), 5.0)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value.item()
                counts[name] = counts.get(name, 0) + 1
            for name, value in chances.items():
                chance[name] = chance.get(name, 0.0) + value
        self.throughput.append(meter.stop())
        return ({name: sums[name] / counts[name] for name in sums},
                {name: chance[name] / counts[name] for name in chance})

    def state_dict(self):
        """Everything needed to continue after the last finished epoch (plain data and tensors only)."""
        return {"step": self.step, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": self.rng.bit_generator.state, "generator": self.generator.get_state(),
                "history": self.history}

    def load_state_dict(self, state):
        self.step = state["step"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])
        self.history = list(state["history"])

    def fit(self, show_progress=False, start_epoch=0, on_epoch_end=None):
        """Train the remaining epochs; ``on_epoch_end(epoch)`` runs after each (e.g. to write a resume point)."""
        self.describe_data()
        for epoch in range(start_epoch, self.config["phase1_epochs"]):
            start = time()
            train, chance = self.train_epoch(epoch, show_progress)
            self.target.qformer.eval()
            train_items = self.data.text_items[: max(len(self.data.eval_items), 1)]
            evaluation = evaluate_alignment(self.target, self.data.eval_items, train_items, text_group=self.text_group)
            self.history.append({"epoch": epoch, **{f"train_{k}": v for k, v in train.items()},
                                 **{f"chance_{k}": v for k, v in chance.items()}, **evaluation})
            losses = ", ".join(f"{k}: {v:.4f}" + (f" (chance {chance[k]:.4f})" if k in chance else "")
                               for k, v in train.items())
            self.logger.info(set_color(f"phase 1 epoch {epoch} training", "green")
                             + f" [{set_color('time', 'blue')}: {time() - start:.2f}s, {losses}; "
                             f"{self.throughput[-1]['examples_per_s']:.1f} pairs/s]")
            if evaluation:
                shown = ", ".join(f"{k}: {v:.4f}" for k, v in evaluation.items())
                self.logger.info(set_color(f"phase 1 epoch {epoch} held-out items", "green") + f" [{shown}]")
            if on_epoch_end is not None:
                on_epoch_end(epoch)
        return self.history
