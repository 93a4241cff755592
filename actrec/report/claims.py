"""Verdicts on a paper's claims: each :class:`actrec.report.spec.Claim` checked against the trials' per-clip evidence.

For a claim "cell a beats cell b" the measured difference is a's accuracy minus b's (percentage points), averaged over
each cell's seeds and computed on the clips both cells were evaluated on (matched by clip id, so the comparison is
*paired*: a hard clip counts against both cells). Its 95% interval:

- with one seed in a cell, scipy's paired bootstrap over clips (:func:`scipy.stats.bootstrap`, ``paired=True``,
  percentile interval, on the seed-averaged per-clip correctness). It measures test-set sampling only;
- with several seeds in both, seeds and clips are *crossed* (every seed of a cell is evaluated on every clip), so the
  difference's variance has three parts, estimated as in a two-way random-effects ANOVA (Searle, Casella & McCulloch,
  *Variance Components*, 1992, ch. 4) for each cell's seeds x clips table: the seed part, var(per-seed accuracy)/S
  per cell (training noise, plus the seed-by-clip interaction over N clips); the clip part, var(per-clip difference)/N
  minus the interaction already counted with the seeds; the interval is difference ± t · SE with Satterthwaite's
  degrees of freedom (:func:`scipy.stats.t`). A two-level bootstrap (clips, then seeds) was tried first and
  dropped: over 3 seeds it understates the seed part by a third and ignores the t tails, and it counts the
  seed-by-clip interaction twice; in 200 null runs of 3 seeds x 300 clips it gave 13.5% false verdicts with seed
  noise and 0.5% without, at a nominal 5%. This interval holds its level (``tests/test_report_claims.py`` checks it
  by simulation).

Verdicts, for ``kind="beats"``: *supported* when the interval lies above 0, *contradicted* when it lies below 0,
otherwise *inconclusive*. For ``kind="matches"`` (the cells differ by at most ``margin`` points): *supported* when the
interval lies inside ±margin, *contradicted* when it lies wholly outside, otherwise *inconclusive*. A verdict needs
``MIN_SEEDS`` seeds in each cell: reruns of one configuration on the synthetic set move an RGB cell by up to 25
points (Table IV's vanilla RGB: 53.1, 37.5, 62.5 over seeds 0-2), more than the paper's effects, and one seed cannot
measure that, so with fewer the verdict is "inconclusive (N seeds)" whatever the clip interval says. A cell with no
trials is "not measured" (a paper-only row, or a column a profile does not run); a cell whose trials logged no
per-clip predictions is "no per-clip evidence" (runs from before they were logged). Each claim is tested at the 5%
level on its own (no correction across a table's claims), and each cell is its trials' best epoch, chosen on the same
clips: read a lone supported claim among many with that in mind.

When a claim stays inconclusive, :func:`resolving_effort` estimates how many seeds (at this many clips) or clips (at
this many seeds) would resolve a difference of the paper's size with 80% power at the 5% level, from the seed and
clip parts of the variance (extrapolated from this run's noise). Per cell, :func:`wilson_interval` gives the
binomial (Wilson) interval of the mean accuracy over one evaluation's clips (scipy's :meth:`scipy.stats.binomtest`
``proportion_ci``): test-set sampling only, the seed-to-seed spread being the ± std beside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from actrec.report.spec import Claim, TableSpec

CONFIDENCE = 0.95
POWER = 0.80
MIN_SEEDS = 3  # seeds per cell before a verdict other than inconclusive
N_RESAMPLES = 9999

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
NOT_MEASURED, NO_EVIDENCE = "not measured", "no per-clip evidence"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_MEASURED, NO_EVIDENCE)


@dataclasses.dataclass(frozen=True)
class Difference:
    """A measured difference of accuracies (percentage points) with its 95% interval."""

    value: float
    low: float
    high: float
    seeds: tuple[int, int]  # seeds of cell a, cell b
    clips: int  # clips both cells were evaluated on
    clip_variance: float  # the difference's variance from the clips (points², at these clips)
    seed_variance: float | None  # from the seeds, at these seeds (points²); None with one seed in a cell
    df: float | None = None  # Satterthwaite degrees of freedom of the t interval (None: the clip bootstrap)


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> Difference:
    """Difference of mean correctness, 100 * (mean(a) - mean(b)), with its 95% interval (see the module docstring):
    the crossed seeds x clips t interval when both cells have several seeds, else scipy's paired clip bootstrap.

    ``a``: (seeds_a, clips) and ``b``: (seeds_b, clips) 0/1 correctness, column j the same clip in both.
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise ValueError(f"paired_difference needs the same clips in both cells, got {a.shape} and {b.shape}")
    value = float(100.0 * (a.mean() - b.mean()))
    clips = a.shape[1]
    per_clip = a.mean(0) - b.mean(0)  # seed-averaged per-clip difference
    clip_spread = 100.0**2 * float(np.var(per_clip, ddof=1)) / clips if clips > 1 else 0.0
    seeds = (len(a), len(b))
    if min(seeds) > 1 and clips > 1:
        seed_a, interaction_a = _components(a)
        seed_b, interaction_b = _components(b)
        clip_variance = max(0.0, clip_spread - 100.0**2 * (interaction_a / seeds[0] + interaction_b / seeds[1]) / clips)
        seed_variance = 100.0**2 * (seed_a + seed_b)
        parts = [(100.0**2 * seed_a, seeds[0] - 1), (100.0**2 * seed_b, seeds[1] - 1), (clip_variance, clips - 1)]
        total = sum(v for v, _ in parts)
        if total == 0:
            return Difference(value, value, value, seeds, clips, 0.0, 0.0, None)
        df = total**2 / sum(v**2 / k for v, k in parts if v > 0)  # Satterthwaite (1946)
        half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(total)
        return Difference(value, value - half, value + half, seeds, clips, clip_variance, seed_variance, df)
    if np.all(per_clip == per_clip[0]):  # no spread to resample (e.g. identical predictions)
        low = high = value
    else:
        result = stats.bootstrap(
            (a.mean(0), b.mean(0)),
            _mean_difference,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Difference(value, low, high, seeds, clips, clip_spread, None)


def _components(y: np.ndarray) -> tuple[float, float]:
    """(variance of the cell's mean from its seeds, seed-by-clip interaction variance) of a (seeds, clips) 0/1 table
    (two-way ANOVA without replication: the interaction is the residual mean square)."""
    seeds, clips = y.shape
    seed_means, clip_means = y.mean(1), y.mean(0)
    residual = y - seed_means[:, None] - clip_means[None, :] + y.mean()
    interaction = float((residual**2).sum()) / ((seeds - 1) * (clips - 1))
    return float(np.var(seed_means, ddof=1)) / seeds, interaction


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return 100.0 * (np.mean(x, axis=axis) - np.mean(y, axis=axis))


def verdict(diff: Difference, kind: str, margin: float = 0.0, *, min_seeds: int = MIN_SEEDS) -> str:
    """supported / contradicted / inconclusive for a ``kind`` claim, from the interval; inconclusive below
    ``min_seeds`` seeds in either cell."""
    if min(diff.seeds) < min_seeds:
        return INCONCLUSIVE
    if kind == "beats":
        if diff.low > 0:
            return SUPPORTED
        if diff.high < 0:
            return CONTRADICTED
        return INCONCLUSIVE
    if kind == "matches":
        if -margin <= diff.low and diff.high <= margin:
            return SUPPORTED
        if diff.low > margin or diff.high < -margin:
            return CONTRADICTED
        return INCONCLUSIVE
    raise ValueError(f"unknown claim kind {kind!r}")


@dataclasses.dataclass(frozen=True)
class Effort:
    """What would resolve a difference of ``target`` points: seeds per cell at the current clips, clips at the
    current seeds (None: not reachable that way; e.g. more seeds cannot beat the clip noise of a small test set), and
    (seeds, clips) when both grow by the same factor (needed when neither alone is enough)."""

    target: float
    seeds: int | None
    clips: int | None
    seed_noise_known: bool
    together: tuple[int, int] | None = None


def resolving_effort(
    diff: Difference,
    target: float,
    *,
    power: float = POWER,
    alpha: float = 1 - CONFIDENCE,
    equivalence: bool = False,
) -> Effort:
    """Seeds / clips at which a true difference of ``target`` points would give an interval excluding 0 with
    probability ``power``: (z_{1-α/2} + z_power)² · SE² ≤ target², SE² = V_seed · S/S' + V_clip · N/N' (z: t
    quantiles at the interval's degrees of freedom, normal ones for the clip bootstrap). ``equivalence``: a "matches"
    claim, resolved when the interval fits inside ±margin while the true difference is ``target`` inside the margin's
    edge: (z_{1-α/2} + z_{1-(1-power)/2})² · SE² ≤ target².

    With one seed in a cell the seed variance is unknown: the clip estimate then ignores it (a lower bound) and the
    seed estimate is None.
    """
    # t quantiles at this run's degrees of freedom when the interval had them (a few seeds: heavy tails), else normal.
    quantile = stats.norm.ppf if diff.df is None else (lambda q: stats.t.ppf(q, diff.df))
    z = quantile(1 - alpha / 2) + quantile(1 - (1 - power) / 2 if equivalence else power)
    budget = (abs(target) / z) ** 2  # the largest SE² that resolves target
    seeds, clips = min(diff.seeds), diff.clips
    seed_variance = diff.seed_variance
    need_seeds = need_clips = None
    if target == 0:
        return Effort(target, None, None, seed_variance is not None)
    clip_room = budget - (seed_variance or 0.0)
    if clip_room > 0:
        need_clips = max(clips, math.ceil(clips * diff.clip_variance / clip_room))
    together = None
    if seed_variance is not None:
        seed_room = budget - diff.clip_variance
        if seed_room > 0:
            need_seeds = max(seeds, math.ceil(seeds * seed_variance / seed_room))
        factor = max(1.0, (seed_variance + diff.clip_variance) / budget)  # SE² = (V_seed + V_clip) / factor
        together = (math.ceil(seeds * factor), math.ceil(clips * factor))
    return Effort(target, need_seeds, need_clips, seed_variance is not None, together)


def wilson_interval(correct: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of an accuracy, in percent (scipy's ``binomtest(...).proportion_ci``)."""
    if total <= 0:
        raise ValueError("wilson_interval needs at least one clip")
    ci = stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return 100.0 * ci.low, 100.0 * ci.high


def paired_matrices(a: Sequence[Mapping[int, bool]], b: Sequence[Mapping[int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed {clip id: correct} of two cells -> (seeds_a, clips) and (seeds_b, clips) 0/1 matrices over the clips
    every seed of both cells was evaluated on (sorted by id)."""
    common = None
    for seed in (*a, *b):
        common = set(seed) if common is None else common & set(seed)
    clips = sorted(common or ())
    to_matrix = lambda seeds: np.array([[float(s[c]) for c in clips] for s in seeds]).reshape(len(seeds), len(clips))  # noqa: E731
    return to_matrix(a), to_matrix(b)


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """One claim's check: the verdict as printed (e.g. "inconclusive (1 seed)"), its class (one of ``VERDICTS``),
    the measured difference, the paper's, and what would resolve it."""

    claim: Claim
    verdict: str  # one of VERDICTS
    label: str  # the verdict as printed
    difference: Difference | None
    paper: float | None
    effort: Effort | None = None
    detail: str = ""  # why there is no measurement


def check_claim(
    claim: Claim,
    spec: TableSpec,
    evidence_a: Sequence[Mapping[int, bool]] | None,
    evidence_b: Sequence[Mapping[int, bool]] | None,
    *,
    min_seeds: int = MIN_SEEDS,
    n_resamples: int = N_RESAMPLES,
) -> ClaimResult:
    """The verdict on ``claim`` from each cell's per-seed {clip id: correct} (``[]``: the cell has no trials; None:
    its trials logged no per-clip predictions)."""
    paper = claim.paper_difference(spec)
    for side, evidence in (("a", evidence_a), ("b", evidence_b)):
        row, column = getattr(claim, side)
        if evidence is not None and not evidence:
            return ClaimResult(
                claim, NOT_MEASURED, NOT_MEASURED, None, paper, detail=f"no trial measured {row} ({column})"
            )
    if evidence_a is None or evidence_b is None:
        detail = "the trials logged no per-clip predictions (runs from before they were logged)"
        return ClaimResult(claim, NO_EVIDENCE, NO_EVIDENCE, None, paper, detail=detail)
    a, b = paired_matrices(evidence_a, evidence_b)
    if a.shape[1] == 0:
        detail = "the two cells were evaluated on different clips (e.g. different datasets): no paired comparison"
        return ClaimResult(claim, NOT_MEASURED, "not comparable", None, paper, detail=detail)
    difference = paired_difference(a, b, n_resamples=n_resamples)
    result = verdict(difference, claim.kind, claim.margin, min_seeds=min_seeds)
    seeds = min(difference.seeds)
    label = result if seeds >= min_seeds else f"{INCONCLUSIVE} ({seeds} seed{'s' if seeds != 1 else ''})"
    effort = None
    if result == INCONCLUSIVE:
        if claim.kind == "matches":  # room between the paper's difference and the margin's edge
            target = claim.margin - abs(paper or 0.0)
            if target > 0:
                effort = resolving_effort(difference, target, equivalence=True)
        elif paper is not None:
            effort = resolving_effort(difference, paper)
    return ClaimResult(claim, result, label, difference, paper, effort)


def counts(results: Sequence[ClaimResult]) -> dict[str, int]:
    """How many claims got each verdict (every verdict of ``VERDICTS`` present, zeros included)."""
    return {v: sum(r.verdict == v for r in results) for v in VERDICTS}


def describe_cells(claim: Claim) -> str:
    """ "a vs b, column" (one column) or "a (column) vs b (column)"."""
    (row_a, col_a), (row_b, col_b) = claim.a, claim.b
    if col_a == col_b:
        return f"{row_a} vs {row_b}, {col_a}"
    return f"{row_a} ({col_a}) vs {row_b} ({col_b})"


def format_difference(result: ClaimResult) -> str:
    """ "+3.1 [−2.0, +8.3]" (points, 95% interval); the reason when there is no measurement."""
    d = result.difference
    if d is None:
        return result.detail or "—"
    return f"{d.value:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


def format_paper(result: ClaimResult) -> str:
    claim = result.claim
    paper = "—" if result.paper is None else f"{result.paper:+.2f}"
    paper = paper[:-1] if paper.endswith("0") else paper  # +1.70 -> +1.7, +1.00 -> +1.0, +0.25 stays
    if claim.kind == "matches":
        return f"{paper} (claim: within ±{claim.margin:g})"
    return paper


def format_effort(result: ClaimResult) -> str:
    """What would resolve an inconclusive claim, e.g. "≈ 9 seeds (at 96 clips) or ≈ 1,800 clips (at 3 seeds)"."""
    d, effort = result.difference, result.effort
    if result.verdict != INCONCLUSIVE or d is None:
        return ""
    seeds = min(d.seeds)
    claim, paper = result.claim, result.paper
    if seeds >= MIN_SEEDS and claim.kind == "beats" and paper is not None and d.high < paper:
        return f"the interval excludes the paper's {paper:+.1f}: the effect here is smaller than the paper's"
    if effort is None:
        if seeds < MIN_SEEDS:
            return f"≥ {MIN_SEEDS} seeds per cell"
        if claim.kind == "matches":
            return "the paper's own difference leaves no room inside the margin"
        return "the paper prints no size to aim at"
    if seeds >= MIN_SEEDS and effort.seeds is not None and effort.seeds <= seeds:
        return (
            f"for {effort.target:+.1f}: these {seeds} seeds and {d.clips:,} clips had 80% power; "
            "the difference here is smaller"
        )
    if seeds < MIN_SEEDS:
        text = f"≥ {MIN_SEEDS} seeds per cell (training noise is unmeasured)"
        if effort.clips is not None:
            text += f"; even without training noise, ≈ {effort.clips:,} clips for {effort.target:+.1f}"
        return text
    parts = []
    if effort.seeds is not None:
        parts.append(f"≈ {effort.seeds:,} seeds (at {d.clips:,} clips)")
    if effort.clips is not None:
        parts.append(f"≈ {effort.clips:,} clips (at {seeds} seeds)")
    if not parts and effort.together is not None:
        parts.append(f"neither alone: ≈ {effort.together[0]:,} seeds with ≈ {effort.together[1]:,} clips")
    return f"for {effort.target:+.1f}: " + " or ".join(parts)


CLAIMS_HEADER = (
    "Claim",
    "Cells (a vs b)",
    "Verdict",
    "Measured a − b [95% CI]",
    "Paper a − b",
    "Seeds, clips",
    "To resolve",
)


def claims_rows(results: Sequence[ClaimResult]) -> list[list[str]]:
    """The report's Claims table rows, one per claim (see ``CLAIMS_HEADER``)."""
    rows = []
    for r in results:
        d = r.difference
        sample = f"{d.seeds[0]} vs {d.seeds[1]} seeds, {d.clips:,} clips" if d else "—"
        text = f"{r.claim.text} ({r.claim.source})"
        rows.append(
            [text, describe_cells(r.claim), r.label, format_difference(r), format_paper(r), sample, format_effort(r)]
        )
    return rows


CLAIMS_LEGEND = (
    "Each claim compares two cells of the table. Measured a − b: the difference of accuracies in points on the clips "
    "both cells were evaluated on, with its 95% interval (several seeds per cell: a t interval from the seed and clip "
    "parts of the variance; one seed: a paired bootstrap over clips). Supported: the interval excludes 0 on the "
    "paper's side (for a 'within ±m' claim: lies inside ±m); contradicted: it excludes 0 on the other side (lies "
    f"outside ±m); inconclusive otherwise, and always below {MIN_SEEDS} seeds per cell, since one run cannot measure "
    "how much a rerun moves the number. To resolve: seeds or clips at which a true difference of the paper's size "
    "would give a decisive interval 80% of the time, extrapolated from this run's noise. Each claim is tested at the "
    "5% level on its own, on each trial's best epoch (chosen on these same clips): among many claims, expect the odd "
    "verdict by chance."
)
