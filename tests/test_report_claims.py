"""Claims as data (actrec.report.spec.Claim), their statistics (actrec.report.claims: paired bootstrap over clips,
the crossed seeds x clips t interval, verdicts, seeds / clips to resolve, Wilson intervals), the per-clip evidence files
(actrec.track.evidence), provenance records (actrec.track.provenance), and every sweep's declared claims."""

import dataclasses
import importlib.util
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from actrec.data.shards import clip_id
from actrec.report import claims as C
from actrec.report.spec import Claim, Column, Row, TableSpec, claims_for
from actrec.track import evidence, provenance

REPO = Path(__file__).resolve().parents[1]
SWEEPS = sorted((REPO / "sweeps").glob("*.py"))


def _spec(claims=(), **extra) -> TableSpec:
    return TableSpec(
        sweep="toy",
        paper="Toy",
        citation="",
        table="T1",
        title="toy",
        paper_setting="toy",
        rows=(
            Row(label="A", match={"model.theta": 0.6}, paper={"RGB": 92.0, "DEP": 90.0}),
            Row(label="B", match={"model.theta": 0.0}, paper={"RGB": 90.0, "DEP": 91.0}),
            Row(label="B", key="B'", match={"model.theta": 0.8}, paper={"RGB": 91.5}),
        ),
        columns=(
            Column(label="RGB", match={"data.modality": "rgb"}),
            Column(label="DEP", match={"data.modality": "depth"}),
        ),
        claims=tuple(claims),
        **extra,
    )


def _cells(rng, accuracy, seeds, clips, *, difficulty=None):
    """(seeds, clips) 0/1 correctness; ``difficulty`` (clips,) shifts every seed alike (clip effects are paired)."""
    base = np.zeros(clips) if difficulty is None else difficulty
    return (rng.random((seeds, clips)) < np.clip(accuracy + base, 0, 1)).astype(float)


# --- claims as data --------------------------------------------------------------------------------------------------


def test_claims_name_existing_unique_cells_and_carry_the_papers_difference():
    claim = Claim(text="A beats B on RGB", source="§1", a=("A", "RGB"), b=("B", "RGB"))
    spec = _spec([claim, Claim(text="A vs B'", source="§1", a=("A", "RGB"), b=("B'", "RGB"))])
    assert claim.paper_difference(spec) == pytest.approx(2.0)
    assert Claim(text="x", source="", a=("A", "DEP"), b=("B'", "DEP")).paper_difference(spec) is None  # not printed
    assert TableSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="'C'"):
        _spec([Claim(text="x", source="", a=("C", "RGB"), b=("A", "RGB"))])
    with pytest.raises(ValueError, match="'Depth'"):
        _spec([Claim(text="x", source="", a=("A", "Depth"), b=("B'", "RGB"))])
    with pytest.raises(ValueError, match="not unique"):  # two rows print "B" and neither has a key
        dataclasses.replace(_spec(), rows=(*_spec().rows, Row(label="A", match={"model.theta": 1.0})), claims=(claim,))
    with pytest.raises(ValueError, match="kind"):
        Claim(text="x", source="", a=("A", "RGB"), b=("B", "RGB"), kind="better")
    with pytest.raises(ValueError, match="margin"):
        Claim(text="x", source="", a=("A", "RGB"), b=("B", "RGB"), kind="matches")
    with pytest.raises(ValueError, match="itself"):
        Claim(text="x", source="", a=("A", "RGB"), b=("A", "RGB"))
    assert claims_for(spec.rows[:2], spec.claims) == (claim,)  # a grid without B' keeps the claims it can check


def test_specs_logged_before_claims_load_without_any():
    raw = json.loads(_spec().to_json())
    del raw["claims"], raw["claims_note"]
    loaded = TableSpec.from_json(json.dumps(raw))
    assert loaded.claims == () and loaded.claims_note == ""


def _load_sweep(path: Path):
    module_spec = importlib.util.spec_from_file_location(f"sweep_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SPEC


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_sweep_declares_its_papers_claims_or_says_why_not(path):
    spec = _load_sweep(path)
    table = spec.table
    assert table.claims or table.claims_note, f"{path.name}: no claims and no claims_note"
    ids, labels = [r.id for r in table.rows], {c.label for c in table.columns}
    for claim in table.claims:
        assert claim.text and claim.source, claim
        for row, column in (claim.a, claim.b):
            assert ids.count(row) == 1 and column in labels, (claim.text, row, column)
        paper = claim.paper_difference(table)
        if paper is not None:  # the paper's own numbers agree with its words
            if claim.kind == "beats":
                assert paper > 0, (path.name, claim.text, paper)
            else:
                assert abs(paper) <= claim.margin, (path.name, claim.text, paper)
    assert TableSpec.from_json(table.to_json()).claims == table.claims  # the parent run stores them


# --- statistics with known answers -----------------------------------------------------------------------------------


def test_identical_predictions_differ_by_zero_and_are_inconclusive():
    rng = np.random.default_rng(0)
    a = _cells(rng, 0.6, 3, 200)
    diff = C.paired_difference(a, a.copy(), n_resamples=2000)
    assert diff.value == 0.0 and diff.low <= 0.0 <= diff.high
    assert C.verdict(diff, "beats") == C.INCONCLUSIVE
    one = C.paired_difference(a[:1], a[:1], n_resamples=2000)  # no spread at all: a zero-width interval at 0
    assert (one.value, one.low, one.high) == (0.0, 0.0, 0.0)


def test_a_dominating_cell_is_supported_and_the_reverse_contradicted():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 0.2, 300)
    strong, weak = _cells(rng, 0.8, 3, 300, difficulty=difficulty), _cells(rng, 0.55, 3, 300, difficulty=difficulty)
    forward = C.paired_difference(strong, weak, n_resamples=2000)
    assert 15 < forward.value < 35 and forward.low > 0
    assert C.verdict(forward, "beats") == C.SUPPORTED
    backward = C.paired_difference(weak, strong, n_resamples=2000)
    assert backward.value == pytest.approx(-forward.value) and backward.high < 0
    assert C.verdict(backward, "beats") == C.CONTRADICTED
    # "matches within ±2 points": far apart is contradicted; the same cell twice over fresh seeds is supported.
    assert C.verdict(forward, "matches", margin=2.0) == C.CONTRADICTED
    same = C.paired_difference(_cells(rng, 0.7, 5, 4000), _cells(rng, 0.7, 5, 4000), n_resamples=2000)
    assert C.verdict(same, "matches", margin=3.0) == C.SUPPORTED


def test_below_the_minimum_seeds_a_verdict_stays_inconclusive_whatever_the_clips_say():
    rng = np.random.default_rng(2)
    diff = C.paired_difference(_cells(rng, 0.9, 1, 300), _cells(rng, 0.3, 1, 300), n_resamples=1000)
    assert diff.low > 30  # the clips alone are decisive...
    assert C.verdict(diff, "beats") == C.INCONCLUSIVE  # ...but one run cannot show a rerun would agree
    assert C.verdict(diff, "beats", min_seeds=1) == C.SUPPORTED


def test_one_seed_per_cell_is_scipys_paired_difference():
    rng = np.random.default_rng(3)
    a, b = _cells(rng, 0.7, 1, 150), _cells(rng, 0.6, 1, 150)
    mine = C.paired_difference(a, b, n_resamples=5000, seed=7)
    theirs = stats.bootstrap(
        (a[0], b[0]),
        lambda x, y, axis: 100 * (x.mean(axis) - y.mean(axis)),
        paired=True,
        vectorized=True,
        n_resamples=5000,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert (mine.low, mine.high) == pytest.approx((theirs.low, theirs.high))
    assert mine.value == pytest.approx(100 * (a.mean() - b.mean()))


def test_several_seeds_hold_the_intervals_level_under_the_null():
    # Two configurations with the same accuracy: clip difficulty shared (paired), per-seed offsets (training noise).
    # A 95% interval must exclude 0 (a false supported / contradicted) about 5% of the time, with or without seed
    # noise; the two-level bootstrap it replaced did so 13.5% of the time with seed noise.
    rng = np.random.default_rng(11)
    for seed_sd, seeds in ((0.0, 3), (0.1, 3), (0.1, 5)):
        false = 0
        for _ in range(300):
            difficulty = rng.normal(0, 0.2, 300)
            cells = [
                (rng.random((seeds, 300)) < np.clip(0.6 + difficulty + rng.normal(0, seed_sd, (seeds, 1)), 0, 1))
                for _ in range(2)
            ]
            false += C.verdict(C.paired_difference(*cells), "beats") != C.INCONCLUSIVE
        assert false / 300 <= 0.09, (seed_sd, seeds, false)


def test_seed_noise_widens_the_interval():
    rng = np.random.default_rng(4)
    clips = 400
    steady = np.stack([_cells(rng, 0.7, 1, clips)[0]] * 3)  # three seeds that agree on every clip
    noisy = np.stack([_cells(rng, p, 1, clips)[0] for p in (0.5, 0.7, 0.9)])  # same mean, seeds far apart
    reference = _cells(rng, 0.7, 3, clips)
    calm = C.paired_difference(steady, reference, n_resamples=2000)
    wild = C.paired_difference(noisy, reference, n_resamples=2000)
    assert (wild.high - wild.low) > 1.5 * (calm.high - calm.low)
    assert wild.seed_variance > 10 * calm.seed_variance


def test_resolving_effort_follows_the_variance_budget():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    clips_only = C.Difference(0.5, -4.0, 5.0, (1, 1), 100, clip_variance=6.0, seed_variance=None)
    effort = C.resolving_effort(clips_only, 2.0)
    assert effort.seeds is None and not effort.seed_noise_known
    assert effort.clips == math.ceil(100 * 6.0 / (2.0 / z) ** 2)
    assert C.resolving_effort(clips_only, 4.0).clips < effort.clips  # a larger effect needs fewer clips
    both = C.Difference(0.5, -4.0, 5.0, (3, 3), 100, clip_variance=0.2, seed_variance=4.0)
    effort = C.resolving_effort(both, 2.0)
    budget = (2.0 / z) ** 2
    assert effort.seeds == math.ceil(3 * 4.0 / (budget - 0.2))
    assert effort.clips is None  # more clips cannot remove the seed noise
    noisy_clips = C.Difference(0.5, -4.0, 5.0, (3, 3), 100, clip_variance=5.0, seed_variance=0.1)
    assert C.resolving_effort(noisy_clips, 2.0).seeds is None  # more seeds cannot remove the clip noise


def test_wilson_interval_is_scipys_and_the_textbook_value():
    assert C.wilson_interval(0, 10) == pytest.approx((0.0, 27.75), abs=0.01)  # Wilson (1927): 0/10 -> [0, 0.2775]
    ci = stats.binomtest(70, 100).proportion_ci(method="wilson")
    assert C.wilson_interval(70, 100) == pytest.approx((100 * ci.low, 100 * ci.high))
    with pytest.raises(ValueError):
        C.wilson_interval(0, 0)


def test_check_claim_pairs_clips_and_says_why_it_cannot_measure():
    spec = _spec([Claim(text="A beats B on RGB", source="§1", a=("A", "RGB"), b=("B'", "RGB"))])
    claim = spec.claims[0]
    rng = np.random.default_rng(5)
    ids = list(range(1000, 1300))
    strong = [dict(zip(ids, (rng.random(300) < 0.85).tolist(), strict=True)) for _ in range(3)]
    weak = [dict(zip(ids[50:] + [9999], (rng.random(251) < 0.4).tolist(), strict=True)) for _ in range(3)]
    result = C.check_claim(claim, spec, strong, weak, n_resamples=1000)
    assert result.verdict == C.SUPPORTED and result.difference.clips == 250  # only the clips both were evaluated on
    assert result.paper == pytest.approx(0.5) and result.label == "supported"
    one_seed = C.check_claim(claim, spec, strong[:1], weak[:1], n_resamples=1000)
    assert one_seed.label == "inconclusive (1 seed)" and "≥ 3 seeds" in C.format_effort(one_seed)
    assert C.check_claim(claim, spec, strong, []).verdict == C.NOT_MEASURED
    assert C.check_claim(claim, spec, None, weak).verdict == C.NO_EVIDENCE
    disjoint = C.check_claim(claim, spec, [{1: True}], [{2: True}])
    assert disjoint.label == "not comparable" and disjoint.difference is None
    assert C.counts([result, one_seed])["supported"] == 1


# --- evidence files and provenance -----------------------------------------------------------------------------------


def test_predictions_round_trip_through_npz_with_keys():
    keys = ["s000_a001", "s001_a002", "s002_a000"]
    payload = {
        "clip": [clip_id(k) for k in keys],
        "label": [1, 2, 0],
        "pred": [1, 0, 0],
        "score": [0.9, 0.1, 0.6],
    }
    arrays = evidence.with_keys(evidence.to_arrays(payload), keys[:2])
    back = evidence.decode(evidence.encode(arrays))
    assert back["key"].tolist() == ["s000_a001", "s001_a002", ""]
    assert back["clip"].dtype == np.int64 and back["clip"].tolist() == payload["clip"]
    assert clip_id("s000_a001") == clip_id("s000_a001") < 2**63
    with pytest.raises(ValueError, match="lack"):
        evidence.to_arrays({"clip": [1]})
    with pytest.raises(ValueError, match="predictions"):
        evidence.decode(b"not an npz")


def test_provenance_records_the_commit_and_flags_mixed_or_dirty_trees(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "f.txt").write_text("a")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    clean = provenance.git_state(repo)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (repo / "f.txt").write_text("b")
    dirty = provenance.git_state(repo)
    assert dirty["dirty"] is True and provenance.commit_label(dirty).endswith("+dirty")
    outside = tmp_path / "plain"  # beside the repository, in no git checkout
    outside.mkdir()
    assert (
        provenance.git_state(outside)["commit"] == "unknown" and provenance.commit_label({"commit": None}) == "unknown"
    )
    record = provenance.collect(argv=["--seeds", "3"])
    assert record["packages"]["numpy"] == np.__version__ and record["command"].endswith("--seeds 3")
    first = {**record, "git": clean}
    lines = dict(provenance.summary_lines([first]))
    assert lines["Commit"] == clean["commit"][:12]
    mixed = dict(provenance.summary_lines([first, {**record, "git": dirty}]))
    assert mixed["Commit"].startswith("MIXED: runs from 2 commits") and "Resumed" in mixed
    assert dict(provenance.summary_lines([first], ["abc"]))["Commit"].startswith("MIXED")  # a trial's own commit
    assert provenance.summary_lines([])[0][1].startswith("not recorded")


def test_when_neither_seeds_nor_clips_alone_suffice_both_grow_together():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    diff = C.Difference(5.0, -10.0, 20.0, (3, 3), 96, clip_variance=30.0, seed_variance=50.0)
    effort = C.resolving_effort(diff, 2.0)
    assert effort.seeds is None and effort.clips is None
    factor = 80.0 / (2.0 / z) ** 2
    assert effort.together == (math.ceil(3 * factor), math.ceil(96 * factor))
    result = C.ClaimResult(
        Claim(text="x", source="", a=("A", "RGB"), b=("B", "RGB")), C.INCONCLUSIVE, "inconclusive", diff, 2.0, effort
    )
    assert C.format_effort(result).startswith("for +2.0: neither alone: ≈ ")


def test_a_well_measured_small_effect_is_not_sent_for_more_seeds():
    # 3 seeds, 20,000 clips, no true difference, the paper's +2.0: the interval already excludes the paper's size.
    rng = np.random.default_rng(12)
    spec = _spec([Claim(text="A beats B on RGB", source="§1", a=("A", "RGB"), b=("B", "RGB"))])  # paper +2.0
    ids = range(20000)
    a = [dict(zip(ids, (rng.random(20000) < 0.7).tolist(), strict=True)) for _ in range(3)]
    b = [dict(zip(ids, (rng.random(20000) < 0.7).tolist(), strict=True)) for _ in range(3)]
    result = C.check_claim(spec.claims[0], spec, a, b)
    assert result.verdict == C.INCONCLUSIVE and result.difference.high < 2.0
    assert (
        C.format_effort(result) == "the interval excludes the paper's +2.0: the effect here is smaller than the paper's"
    )
