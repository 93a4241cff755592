"""Console progress for long sweeps: one line per trial epoch, and a line when a trial ends."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ray import tune


def shown_keys(cells: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The dotted keys a trial's one-line description shows: those whose values differ between the sweep's trials
    (``cells``, each trial's own values), in the order they first appear; all of them when none differ."""
    order = list(dict.fromkeys(k for cell in cells for k in cell))
    varying = [k for k in order if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in cells}) > 1]
    return tuple(varying or order)


class ProgressPrinter(tune.Callback):
    """Prints ``[trial i/n] stem=CDC-ST theta=0.6 modality=rgb | epoch 3/5 loss 1.23 val top-1 45.0 (best 47.5)``:
    the trial's values of ``keys`` (see :func:`shown_keys`), then its progress."""

    def __init__(
        self,
        trial_params: Callable[[Mapping[str, Any]], Mapping[str, Any]],
        epochs: int,
        planned: int,
        keys: Sequence[str],
    ) -> None:
        self.trial_params = trial_params
        self.keys = tuple(keys)
        self.epochs = epochs
        self.planned = planned
        self.started = time.time()
        self.done = 0

    def _describe(self, trials, trial) -> str:
        params = self.trial_params(trial.config)
        shown = " ".join(f"{k.split('.')[-1]}={params[k]}" for k in self.keys if k in params)
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
