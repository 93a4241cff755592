"""actrec.report.table: per column measured mean ± std (n) | paper | Δ, complexity columns, paper-size parameters,
the best trial's confusion matrix, all rebuilt from an MLflow store."""

import dataclasses
import json
import os
import re
import tempfile

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from actrec.report.spec import Claim, Column, PlotSpec, Row, TableSpec, matches
from actrec.report.table import (
    best_trial,
    build_table,
    format_delta,
    format_measured,
    format_paper,
    load_sweep,
    paper_size_parameters,
    reference_parameters,
    report_metadata,
    row_normalised,
    write_report,
)
from actrec.track import evidence

REFERENCE = {"model.name": "mfst_base", "model.num_classes": 60}
CONFUSION = {"matrix": [[3, 1, 0], [0, 4, 0], [1, 0, 3]], "class_names": ["wave", "clap", "jump"]}


def toy_spec(sweep: str = "toy", *, reference: bool = True) -> TableSpec:
    return TableSpec(
        sweep=sweep,
        paper="Toy (2024)",
        citation="Toy Paper. Toy Venue, 2024. doi:10.0000/toy",
        table="Table 1",
        title=f"{sweep} table",
        paper_setting="toy set",
        rows=(
            Row(
                label="A",
                match={"model.theta": 0.6},
                paper={"RGB": 90.0, "DEP": 91.5},
                extra={"θ": 0.6},
                paper_complexity={"params_m": 32.6, "gflops": 41.5, "frames": 32},
                reference=REFERENCE if reference else {},
            ),
            Row(label="B", match={"model.theta": 0.8}, paper={"RGB": 80.0, "DEP": 81.26}, extra={"θ": 0.8}),
            Row(
                label="De-Recouple",
                match={"model.theta": 0.3},
                paper={"RGB": 85.5},
                extra={"θ": 0.3},
                note="paper-only row: the method is not implemented here",
            ),
        ),
        columns=(
            Column(label="RGB", match={"data.modality": "rgb"}),
            Column(label="DEP", match={"data.modality": "depth"}),
        ),
        plot=PlotSpec(x="model.theta", series=("data.modality",)),
        complexity=("params_m", "gflops", "frames"),
    )


# (theta, modality) -> one (accuracy, model_params, model_gflops or None) per seed. Theta 0.8 trials predate
# model_gflops (an old run) and disagree on their parameter count.
TRIALS = {
    (0.6, "rgb"): [(50.0, 1.5e6, 0.125), (60.0, 1.5e6, 0.125)],
    (0.6, "depth"): [(70.0, 1.5e6, 0.125)],
    (0.8, "rgb"): [(40.0, 2.0e6, None), (44.0, 2.5e6, None)],
}


def build_store(
    tmp_path,
    sweeps=("toy",),
    *,
    confusion_on: str = "best",
    spec_for=toy_spec,
    with_spec: bool = True,
) -> str:
    """An MLflow SQLite store written by hand as SweepTracker writes it: per sweep a parent run (role=sweep,
    ``table_spec.json``) and one child run per trial (params, metric histories, ``mlflow.parentRunId``).

    ``confusion_on``: "best" logs ``confusion_best.json`` on the best trial, "other" on a worse trial only,
    "none" nowhere.
    """
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    for sweep in sweeps:
        experiment = client.create_experiment(f"actrec/{sweep}", artifact_location=str(tmp_path / "art" / sweep))
        parent = client.create_run(experiment, run_name=f"{sweep}-local", tags={"role": "sweep", "sweep": sweep})
        parent_id = parent.info.run_id
        client.log_param(parent_id, "profile", "local")
        if with_spec:
            client.log_text(parent_id, spec_for(sweep).to_json(), "table_spec.json")
        for (theta, modality), seeds in TRIALS.items():
            for seed, (acc, params, gflops) in enumerate(seeds):
                name = f"t{theta}{modality}{seed}"
                run = client.create_run(
                    experiment,
                    run_name=name,
                    tags={"role": "trial", "trial_id": name, "mlflow.parentRunId": parent_id},
                )
                run_id = run.info.run_id
                for key, value in {
                    "model.theta": theta,
                    "data.modality": modality,
                    "train.seed": seed,
                    "data.dataset": "synthetic",
                    "data.num_frames": 8,
                }.items():
                    client.log_param(run_id, key, value)
                for step, (top1, seconds) in enumerate([(acc - 5, 2.0), (acc, 3.0)], start=1):
                    client.log_metric(run_id, "val_top1", top1, step=step)
                    client.log_metric(run_id, "val_best_top1", top1, step=step)
                    client.log_metric(run_id, "epoch_time_s", seconds, step=step)
                    client.log_metric(run_id, "model_params", params, step=step)
                    if gflops is not None:
                        client.log_metric(run_id, "model_gflops", gflops, step=step)
                is_best = name == "t0.6depth0"
                if (confusion_on == "best" and is_best) or (confusion_on == "other" and name == "t0.6rgb1"):
                    client.log_text(run_id, json.dumps(CONFUSION), "confusion_best.json")
                client.set_terminated(run_id, "FINISHED")
        client.set_terminated(parent_id, "FINISHED")
    return uri


@pytest.fixture()
def store(tmp_path):
    return build_store(tmp_path)


@pytest.fixture(scope="module")
def paper_size():
    """Parameter count of the paper-size reference model (built once: it is MFST-Base at 60 classes)."""
    return paper_size_parameters(toy_spec())


def test_cells_show_mean_std_n_paper_and_delta(store, paper_size):
    record = load_sweep(store, "toy")
    header, rows = build_table(record, paper_size_params=paper_size)
    assert header[:5] == ["Setting", "θ", "RGB measured (mean ± std, n)", "RGB paper", "RGB Δ"]
    assert header[5:8] == ["DEP measured (mean ± std, n)", "DEP paper", "DEP Δ"]
    assert header[8:] == [
        "Params (M) measured",
        "Params (M) paper",
        "GFLOPs measured",
        "GFLOPs paper",
        "Frames measured",
        "Frames paper",
        "params at paper size (M)",
    ]
    a, b, only_paper = rows
    # stdev(50, 60) = 7.07; Δ = 55 − 90 and 70 − 91.5.
    assert a[:8] == ["A", "0.6", "55.0 ± 7.1 (n=2)", "90.0", "-35.0", "70.0 (n=1)", "91.5", "-21.5"]
    assert a[8:14] == ["1.50", "32.6", "0.125", "41.5", "8", "32"]
    # Paper value kept as transcribed (81.26); no depth trial at θ 0.8 → no measurement, no Δ.
    assert b[:8] == ["B", "0.8", "42.0 ± 2.8 (n=2)", "80.0", "-38.0", "—", "81.26", "—"]
    # Its trials disagree on parameters (a range) and predate model_gflops; no paper complexity, no reference.
    assert b[8:] == ["2.00–2.50", "—", "not logged", "—", "8", "—", "—"]
    assert only_paper == ["De-Recouple", "0.3", "—", "85.5", "—", "—", "—", "—"] + ["—"] * 7
    assert len(record.trials) == 5 and all(t.epochs == 2 and t.seconds == 5.0 for t in record.trials)


@pytest.mark.filterwarnings("ignore:No artists with labels")  # errorbar is stubbed: no artists
def test_plot_draws_only_the_trials_its_filter_selects(tmp_path, monkeypatch):
    """``PlotSpec.match`` (e.g. De+Recouple Fig. 6 plots 𝒯 only with recoupling on): a measured trial outside the
    filter stays in the table but draws no point; a plot whose filter selects nothing is not written."""
    import matplotlib.axes

    from actrec.report.table import SweepRecord, TrialRecord, _plot

    drawn = []
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda ax, xs, ys, **kw: drawn.append((list(xs), list(ys))))

    def trial(theta, recoupling, value):
        params = {"model.theta": str(theta), "model.recoupling": str(recoupling), "data.modality": "rgb"}
        return TrialRecord(
            name="t", status="FINISHED", params=params, value=value, final_top1=value, epochs=1, seconds=1
        )

    spec = dataclasses.replace(toy_spec(), plot=PlotSpec(x="model.theta", series=(), match={"model.recoupling": True}))
    trials = (trial(0.6, True, 50.0), trial(0.8, True, 70.0), trial(0.6, False, 10.0))
    record = SweepRecord(
        spec=spec, parent_run_id="p", parent_status="FINISHED", params={}, trials=trials, started=0.0, ended=1.0
    )
    assert _plot(record, str(tmp_path / "plot.png")) == str(tmp_path / "plot.png")
    assert drawn == [([0.6, 0.8], [50.0, 70.0])]
    unmatched = dataclasses.replace(record, trials=trials[2:])
    assert _plot(unmatched, str(tmp_path / "none.png")) is None and not (tmp_path / "none.png").exists()


def test_params_at_paper_size_match_table_iii(paper_size):
    # MFST Table III: MFST-Base (3 stages) has 32.6M parameters; the issue allows 15%.
    assert set(paper_size) == {"A"}
    assert abs(paper_size["A"] - 32.6) / 32.6 < 0.15


def test_reference_is_built_once_per_report_run(monkeypatch):
    import actrec.models.complexity as complexity

    calls = []
    real = complexity.count_parameters
    monkeypatch.setattr(complexity, "count_parameters", lambda m: calls.append(1) or real(m))
    small = {"model.name": "mfst_base", "model.num_classes": 5, "model.dims": (8, 8, 8, 8), "model.heads": 2}
    rows = tuple(Row(label=label, match={}, reference=small) for label in "xy")
    # Through JSON, as the report reads it from MLflow (the dims tuple comes back as a list).
    spec = TableSpec.from_json(dataclasses.replace(toy_spec(), rows=rows).to_json())
    cache: dict[str, float] = {}
    sizes = paper_size_parameters(spec, cache)
    assert sizes["x"] == sizes["y"] > 0 and len(calls) == 1
    paper_size_parameters(spec, cache)
    assert len(calls) == 1


def test_reference_counts_on_the_meta_device_equal_a_real_build():
    """One reference row per model of every sweep: the storage-free count equals the parameters of the model really
    built (a real build of a paper-size model takes about a second)."""
    import typing

    import torch

    from actrec.config import coerce
    from actrec.models import build_model, model_config
    from actrec.models.complexity import count_parameters
    from tests.conftest import SWEEP_NAMES
    from tests.conftest import load_sweep as load_sweep_script

    references = {}
    for name in SWEEP_NAMES:
        for row in load_sweep_script(name).SPEC.table.rows:
            if row.reference:
                references.setdefault(row.reference["model.name"], row.reference)
    assert len(references) >= 6
    for reference in references.values():
        model = reference["model.name"]
        config = model_config(model)
        fields = {k.removeprefix("model."): v for k, v in reference.items() if k != "model.name"}
        hints = typing.get_type_hints(type(config))
        real = build_model(model_config(model, **{k: coerce(v, hints[k]) for k, v in fields.items()}))
        assert reference_parameters(reference) == count_parameters(real) / 1e6, reference
        assert next(real.parameters()).device != torch.device("meta")


def test_bad_reference_names_the_row():
    spec = dataclasses.replace(toy_spec(), rows=(Row(label="X", match={}, reference={"model.name": "nope"}),))
    with pytest.raises(ValueError, match="table row 'X'"):
        paper_size_parameters(spec)


def test_report_files_summary_notes_and_confusion(store, tmp_path):
    out = tmp_path / "r"
    paths = write_report(store, "toy", out_dir=str(out))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["toy.md", "toy.html", "toy_plot.png", "toy_confusion.png"]
    md = open(paths[0]).read()
    assert "| A | 0.6 | 55.0 ± 7.1 (n=2) | 90.0 | -35.0 | 70.0 (n=1) | 91.5 | -21.5 |" in md
    assert "Synthetic data" in md and "5 (5 finished)" in md and "- **Seeds:** 2 (0, 1)" in md
    assert "- **Best trial:** `t0.6depth0` (top-1 accuracy (%) 70.0; data.modality=depth, model.theta=0.6)" in md
    assert "- **De-Recouple:** paper-only row: the method is not implemented here" in md
    size = float(re.search(r"\| A \|.*\| 32 \| (\d+\.\d) \|", md).group(1))
    assert abs(size - 32.6) / 32.6 < 0.15
    # Per-trial table: params and GFLOPs, "not logged" for the run without model_gflops.
    assert "| t0.6rgb0 | rgb | 0.6 | 0 | 50.0 | 50.0 | 1.50 | 0.125 | 2 | 5 | FINISHED |" in md
    assert "| t0.8rgb1 | rgb | 0.8 | 1 | 44.0 | 44.0 | 2.50 | not logged | 2 | 5 | FINISHED |" in md
    assert "![confusion matrix](toy_confusion.png)" in md and "3 classes, 12 validation clips" in md
    assert (out / "toy_confusion.png").stat().st_size > 5000
    page = open(paths[1]).read()
    assert "<table>" in page and "toy_confusion.png" in page and "paper-only row" in page


def test_confusion_is_the_best_trials_or_none(tmp_path):
    # Only a worse trial logged a matrix: the best trial's is "not logged", and no picture is drawn.
    uri = build_store(tmp_path, confusion_on="other")
    out = tmp_path / "r"
    (out).mkdir()
    (out / "toy_confusion.png").write_bytes(b"stale")
    paths = write_report(uri, "toy", out_dir=str(out))
    md = open(paths[0]).read()
    assert not (out / "toy_confusion.png").exists() and len(paths) == 3
    assert "Confusion matrix of the best trial `t0.6depth0`: not logged" in md


def test_best_trial_and_row_normalisation(store):
    assert best_trial(load_sweep(store, "toy")).name == "t0.6depth0"
    assert row_normalised([[3, 1], [0, 0]]) == [[0.75, 0.25], [0.0, 0.0]]


def test_format_helpers():
    assert format_measured([]) == "—"
    assert format_measured([42.0]) == "42.0 (n=1)"
    assert format_measured([1.0, 3.0, 5.0]) == "3.0 ± 2.0 (n=3)"
    assert format_paper(61.26) == "61.26" and format_paper(91) == "91" and format_paper(None) == "—"
    assert format_delta([92.0], 90.4) == "+1.6" and format_delta([], 90.4) == "—" and format_delta([1.0], None) == "—"


def test_missing_table_spec_is_a_clear_error(tmp_path):
    uri = build_store(tmp_path, with_spec=False)
    with pytest.raises(SystemExit, match="no table_spec.json"):
        load_sweep(uri, "toy")


def test_unknown_sweep_is_a_clear_error(store):
    with pytest.raises(SystemExit, match="run the sweep first"):
        load_sweep(store, "nope")


def test_tuple_valued_rows_match_after_the_spec_round_trips_through_json():
    # A row keyed by a tuple knob (CTN's v2t_kernel) reads back from table_spec.json as a list; MLflow holds the
    # trial's value as the tuple's text. Both must still meet, and a different tuple must not.
    row = Row(label="7³", match={"model.v2t_kernel": (7, 7, 7)}, paper={"X": 1.0})
    spec = TableSpec(
        sweep="s",
        paper="p",
        citation="f",
        table="T",
        title="t",
        paper_setting="x",
        rows=(row,),
        columns=(Column(label="X", match={}),),
    )
    back = TableSpec.from_json(spec.to_json()).rows[0].match
    assert matches({"model.v2t_kernel": "(7, 7, 7)"}, back)
    assert matches({"model.v2t_kernel": (7, 7, 7)}, row.match)
    assert not matches({"model.v2t_kernel": "(5, 5, 5)"}, back)
    assert not matches({"model.v2t_kernel": "(7, 7)"}, back)


def test_report_prints_the_papers_citation_and_reads_specs_logged_with_a_paper_file(tmp_path):
    uri = build_store(tmp_path, sweeps=("toy", "old"), with_spec=False)
    client = MlflowClient(uri)
    # "old": a spec logged before ``citation``, naming a paper text (outside the repository) under ``paper_file``.
    raw = json.loads(toy_spec("old").to_json())
    raw["paper_file"] = "shared-texts/toy.txt"
    del raw["citation"]
    for sweep, text in (("toy", toy_spec().to_json()), ("old", json.dumps(raw))):
        client.log_text(load_parent_id(client, sweep), text, "table_spec.json")
    assert load_sweep(uri, "old").spec.citation == ""
    md = open(write_report(uri, "toy", out_dir=str(tmp_path / "r"))[0]).read()
    assert "- **Paper:** Toy (2024), Table 1: toy table (Toy Paper. Toy Venue, 2024. doi:10.0000/toy)\n" in md
    paths = write_report(uri, "old", out_dir=str(tmp_path / "r"))
    assert "- **Paper:** Toy (2024), Table 1: old table\n" in open(paths[0]).read()
    assert "toy.txt" not in open(paths[0]).read() + open(paths[1]).read()


def load_parent_id(client: MlflowClient, sweep: str) -> str:
    experiment = client.get_experiment_by_name(f"actrec/{sweep}")
    return client.search_runs([experiment.experiment_id], "tags.role = 'sweep'")[0].info.run_id


def test_report_publishes_the_table_and_the_best_trial_on_the_parent_run(store, tmp_path):
    # MLflow renders a run's description (tag mlflow.note.content) as Markdown on the run page: the parent run carries
    # the paper-vs-measured table itself, and the best trial's metric is a column of the experiment's run list.
    client = MlflowClient(store)
    record = load_sweep(store, "toy")
    best = best_trial(record)
    write_report(store, "toy", out_dir=str(tmp_path / "r"))
    parent = client.get_run(record.parent_run_id)
    description = parent.data.tags["mlflow.note.content"]
    assert description.startswith("# Toy (2024) — Table 1: toy table\n")
    assert "| A | 0.6 | 55.0 ± 7.1 (n=2) | 90.0 | -35.0 | 70.0 (n=1) | 91.5 | -21.5 |" in description
    assert "- **De-Recouple:** paper-only row: the method is not implemented here" in description
    assert "- **Best trial:** `t0.6depth0`" in description and "Synthetic data" in description
    assert "## Trials" not in description and "- **MLflow:**" not in description  # the report files keep those
    assert parent.data.metrics["best_val_best_top1"] == best.value == 70.0
    assert parent.data.tags["best_trial_run_id"] == best.run_id and parent.data.tags["best_trial"] == "t0.6depth0"
    # Experiments of sweeps run before the tag get it when their report is rebuilt.
    experiment = client.get_experiment_by_name("actrec/toy")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_report_without_publish_leaves_the_run_alone(store, tmp_path):
    client = MlflowClient(store)
    parent_id = load_sweep(store, "toy").parent_run_id
    write_report(store, "toy", out_dir=str(tmp_path / "r"), publish=False)
    parent = client.get_run(parent_id)
    assert "mlflow.note.content" not in parent.data.tags and "best_val_best_top1" not in parent.data.metrics


def test_a_failing_publish_keeps_the_report(store, tmp_path, monkeypatch, capsys):
    import actrec.report.table as table

    def broken(*args, **kwargs):
        raise OSError("tracking server unreachable")

    monkeypatch.setattr(table, "publish_results", broken)
    paths = write_report(store, "toy", out_dir=str(tmp_path / "r"))
    assert open(paths[0]).read().startswith("# Toy (2024)")
    assert "tracking server unreachable" in capsys.readouterr().err


def claims_spec(sweep: str = "toy") -> TableSpec:
    claims = (
        Claim(text="A beats B on RGB", source="§4", a=("A", "RGB"), b=("B", "RGB")),
        Claim(text="A beats B on depth", source="§4", a=("A", "DEP"), b=("B", "DEP")),
    )
    return dataclasses.replace(toy_spec(sweep, reference=False), claims=claims)


def _log_predictions(uri: str, clips: int = 100, evaluated: int | None = None) -> None:
    """Per-clip predictions on every trial of the store, as MLflowTuneCallback logs them: the trial's accuracy's
    worth of its first clips correct, and val_clips (``evaluated``, default ``clips``)."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("actrec/toy")
    for run in client.search_runs([experiment.experiment_id], "tags.role = 'trial'"):
        correct = round(run.data.metrics["val_best_top1"] * clips / 100)
        labels = np.arange(clips) % 3
        predicted = np.where(np.arange(clips) < correct, labels, (labels + 1) % 3)
        payload = {"clip": list(range(clips)), "label": labels, "pred": predicted, "score": np.full(clips, 0.5)}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, evidence.PREDICTIONS_ARTIFACT)
            with open(path, "wb") as f:
                f.write(evidence.encode(evidence.to_arrays(payload)))
            client.log_artifact(run.info.run_id, path)
        client.log_metric(run.info.run_id, "val_clips", float(evaluated or clips))


def test_report_opens_with_the_claims_and_publishes_their_table_once(tmp_path):
    uri = build_store(tmp_path, spec_for=claims_spec)
    _log_predictions(uri)
    out = tmp_path / "r"
    write_report(uri, "toy", out_dir=str(out))
    write_report(uri, "toy", out_dir=str(out))  # a rebuilt report replaces the claims table, never appends to it
    text = (out / "toy.md").read_text()
    assert text.index("## Claims") < text.index("- **Paper:**") < text.index("## Table") < text.index("## Provenance")
    assert "2 claim(s) of the paper: 1 inconclusive, 1 not measured." in text
    # A: 50 and 60 correct of 100, B: 40 and 44 of 100, on the same clips: +13.0 points, 2 seeds each.
    assert "| A beats B on RGB (§4) | A vs B, RGB | inconclusive (2 seeds) | +13.0 [" in text
    assert "| A beats B on depth (§4) | A vs B, DEP | not measured | no trial measured B (DEP) |" in text
    assert "55.0 ± 7.1 (n=2) [45.2, 64.4]" in text  # Wilson interval of 55% of one evaluation's 100 clips
    assert "- **Commit:** not recorded" not in text and "- **Provenance:** not recorded" in text
    assert report_metadata(str(out / "toy.md"))["verdicts"]["inconclusive"] == 1
    assert "Per-clip predictions cover" not in text  # every trial logged all the clips it evaluated
    client = MlflowClient(uri)
    parent_id = load_parent_id(client, "toy")
    description = client.get_run(parent_id).data.tags["mlflow.note.content"]
    assert description.index("## Claims") < description.index("## Table")
    with tempfile.TemporaryDirectory() as tmp:
        table = json.load(open(client.download_artifacts(parent_id, "claims.json", tmp)))
    assert len(table["data"]) == 2 and "verdict_class" in table["columns"]


def test_claims_on_capped_predictions_say_which_subset_they_compare(tmp_path):
    uri = build_store(tmp_path, spec_for=claims_spec)
    _log_predictions(uri, clips=100, evaluated=250)  # as if the logged cap had cut a 250-clip test set to 100
    write_report(uri, "toy", out_dir=str(tmp_path / "r"))
    text = (tmp_path / "r" / "toy.md").read_text()
    # The five trials of the claimed cells (A and B on RGB, A on depth) were read; each kept 100 of 250 clips.
    assert "Per-clip predictions cover 100 of up to 250 evaluation clips in 5 trial(s)" in text
    assert "| A beats B on RGB (§4) | A vs B, RGB | inconclusive (2 seeds) | +13.0 [" in text


def test_report_of_a_sweep_that_predates_claims_says_so(store, tmp_path):
    write_report(store, "toy", out_dir=str(tmp_path / "r"))
    text = (tmp_path / "r" / "toy.md").read_text()
    assert "declares no claims (it predates claims as data)" in text
    assert report_metadata(str(tmp_path / "r" / "toy.md"))["verdicts"] is None


def test_report_names_the_readings_its_trials_used(tmp_path):
    """A reading the paper leaves open (``TableSpec.readings``) is named with the values the trials ran."""

    def spec_for(sweep):
        return dataclasses.replace(toy_spec(sweep), readings=("data.num_frames", "model.cdc_t_reading"))

    uri = build_store(tmp_path, spec_for=spec_for)
    assert load_sweep(uri, "toy").spec.readings == ("data.num_frames", "model.cdc_t_reading")
    report = open(write_report(uri, "toy", out_dir=str(tmp_path / "r"), publish=False)[0]).read()
    line = next(line for line in report.splitlines() if line.startswith("- **Readings measured:**"))
    assert "`data.num_frames=8` (every trial)" in line
    assert "`model.cdc_t_reading=not logged (a run from before the knob)` (every trial)" in line
