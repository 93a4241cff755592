"""actrec.report.table: mean ± std over seeds per cell, paper values beside them, files written from MLflow."""

import pytest

from actrec.report.table import build_table, format_cell, load_sweep, write_report
from actrec.track.mlflow_tracker import SweepTracker
from actrec.tune.spec import Column, PlotSpec, Row, TableSpec

SPEC = TableSpec(
    sweep="toy",
    paper="Toy (2024)",
    paper_file="papers/toy.txt",
    table="Table 1",
    title="toy",
    paper_setting="toy set",
    rows=(
        Row(label="A", match={"model.theta": 0.6}, paper={"RGB": 90.0, "DEP": 91.5}, extra={"θ": 0.6}),
        Row(label="B", match={"model.theta": 0.8}, paper={"RGB": 80.0, "DEP": 81.0}, extra={"θ": 0.8}),
    ),
    columns=(
        Column(label="RGB", match={"data.modality": "rgb"}),
        Column(label="DEP", match={"data.modality": "depth"}),
    ),
    plot=PlotSpec(x="model.theta", series=("data.modality",)),
)


@pytest.fixture()
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    tracker = SweepTracker(uri, "toy")
    tracker.start(sweep_dir=str(tmp_path / "s"), tags={"paper": "Toy"}, params={"profile": "local"}, resume=False)
    tracker.log_text(SPEC.to_json(), "table_spec.json")
    values = {(0.6, "rgb"): [50.0, 60.0], (0.6, "depth"): [70.0], (0.8, "rgb"): [40.0, 44.0]}
    for (theta, modality), accs in values.items():
        for seed, acc in enumerate(accs):
            trial = f"t{theta}{modality}{seed}"
            run = tracker.child_run(
                trial,
                run_name=trial,
                tags={},
                params={
                    "model.theta": theta,
                    "data.modality": modality,
                    "train.seed": seed,
                    "data.dataset": "synthetic",
                },
            )
            tracker.log_metrics(run, {"val_top1": acc - 5, "val_best_top1": acc - 5, "epoch_time_s": 2.0}, step=1)
            tracker.log_metrics(run, {"val_top1": acc, "val_best_top1": acc, "epoch_time_s": 3.0}, step=2)
            tracker.end_run(run, "FINISHED")
    tracker.close("FINISHED")
    return uri


def test_cells_are_mean_std_over_seeds_with_paper_value(store):
    record = load_sweep(store, "toy")
    header, rows = build_table(record)
    assert header[:2] == ["Setting", "θ"]
    assert rows[0] == ["A", "0.6", "55.0 ± 7.1 | 90.0", "70.0 (n=1) | 91.5"]
    assert rows[1] == ["B", "0.8", "42.0 ± 2.8 | 80.0", "— | 81.0"]
    assert len(record.trials) == 5 and all(t.epochs == 2 and t.seconds == 5.0 for t in record.trials)


def test_report_files_and_summary(store, tmp_path):
    paths = write_report(store, "toy", out_dir=str(tmp_path / "r"))
    md = open(paths[0]).read()
    assert "| A | 0.6 | 55.0 ± 7.1 \\| 90.0 |" in md
    assert "Synthetic data" in md and "5 (5 finished)" in md and "2 (0, 1)" in md
    assert paths[2].endswith("toy_plot.png")
    assert "<table>" in open(paths[1]).read()


def test_format_cell_without_measurement():
    assert format_cell([], 90.4) == "— | 90.4"
    assert format_cell([1.0, 3.0], None) == "2.0 ± 1.4 | —"


def test_unknown_sweep_is_a_clear_error(store):
    with pytest.raises(SystemExit, match="run the sweep first"):
        load_sweep(store, "nope")
