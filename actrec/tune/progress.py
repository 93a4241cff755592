"""Console progress for long sweeps: one line per trial epoch, and a line when a trial ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ray import tune

# Config keys worth showing in a trial's one-line description, in this order.
SHOWN_KEYS = (
    "model.name",
    "model.stages",
    "model.stem",
    "model.theta",
    "model.residual",
    "model.temporal_block",
    "model.streams",  # EPAM-Net: the phase-1 stream alone ("rgb", "pose") or the joint network ("both")
    "model.rgb_variant",
    "model.attention",
    "data.modality",
    "data.protocol",
    "train.seed",
)


class ProgressPrinter(tune.Callback):
    """Prints ``[trial i/n] stem=CDC-ST theta=0.6 modality=rgb | epoch 3/5 loss 1.23 val top-1 45.0 (best 47.5)``."""

    def __init__(
        self, trial_params: Callable[[Mapping[str, Any]], Mapping[str, Any]], epochs: int, planned: int
    ) -> None:
        self.trial_params = trial_params
        self.epochs = epochs
        self.planned = planned
        self.started = time.time()
        self.done = 0

    def _describe(self, trials, trial) -> str:
        params = self.trial_params(trial.config)
        shown = " ".join(f"{k.split('.')[-1]}={params[k]}" for k in SHOWN_KEYS if k in params)
        index = next((i for i, t in enumerate(trials) if t is trial), 0) + 1
        return f"[trial {index}/{max(self.planned, len(trials))} {trial.trial_id}] {shown}"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.epochs == 0:  # evaluate-only trials (e.g. RGB+DEP score fusion of two checkpoints)
            print(
                f"{self._describe(trials, trial)} | evaluated: val top-1 {result.get('val_top1', float('nan')):.1f}"
                f" skipped {int(result.get('skipped_val', 0))} | {time.time() - self.started:.0f}s elapsed",
                flush=True,
            )
            return
        print(
            f"{self._describe(trials, trial)} | epoch {result.get('epoch', '?')}/{self.epochs} "
            f"loss {result.get('train_loss', float('nan')):.3f} "
            f"val top-1 {result.get('val_top1', float('nan')):.1f} "
            f"(best {result.get('val_best_top1', float('nan')):.1f})"
            f" skipped {int(result.get('skipped_train', 0) + result.get('skipped_val', 0))}"
            f" | {time.time() - self.started:.0f}s elapsed",
            flush=True,
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done += 1
        print(f"{self._describe(trials, trial)} finished ({self.done} done)", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"{self._describe(trials, trial)} FAILED: see {trial.local_path}", flush=True)
