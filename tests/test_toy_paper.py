"""A new paper is two files: a model file and a sweep file, outside the package, registered the way the real papers
are (``@register_model``; referenced as ``MODULE:NAME``). Its smoke sweep runs end to end from a temporary directory
and no file of the package changes."""

from __future__ import annotations

import hashlib
import pathlib
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from actrec.models import build_model, is_model, model_class, model_config
from actrec.models.protocol import class_scores, example_inputs

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "actrec"

TOY_MODEL = textwrap.dedent(
    '''
    """A toy action-recognition model: one 3D convolution, global average pooling, a linear head."""

    import dataclasses

    from torch import nn

    from actrec.models import register_model


    @dataclasses.dataclass(frozen=True, kw_only=True)
    class ToyConfig:
        num_classes: int = 60
        in_channels: int = 3
        width: int = 16

        def __post_init__(self) -> None:
            if self.width < 1:
                raise ValueError(f"model.width must be >= 1, got {self.width!r}")


    class Toy(nn.Module):
        def __init__(self, config: ToyConfig) -> None:
            super().__init__()
            self.config = config
            self.conv = nn.Conv3d(config.in_channels, config.width, 3, padding=1)
            self.head = nn.Linear(config.width, config.num_classes)

        def forward(self, video):
            return self.head(self.conv(video).relu().mean(dim=(2, 3, 4)))


    @register_model(Toy, tiny={"width": 4})
    def toy(**overrides) -> ToyConfig:
        return ToyConfig(**overrides)
    '''
)

TOY_SWEEP = textwrap.dedent(
    '''
    """Toy (2026) Table 1: a narrow and a wide toy model."""

    from actrec.report.spec import Claim, Column, Row, TableSpec
    from actrec.tune.cli import main
    from actrec.tune.profiles import SMOKE
    from actrec.tune.spec import SweepSpec

    TABLE = TableSpec(
        sweep="toy_paper",
        paper="Toy (2026)",
        citation="A toy paper. 2026",
        table="Table 1",
        title="narrow and wide toy models",
        paper_setting="synthetic RGB",
        rows=(
            Row(label="narrow", match={"model.width": 4}, paper={"Acc(%)": 50.0}),
            Row(label="wide", match={"model.width": 8}, paper={"Acc(%)": 60.0}),
        ),
        columns=(Column(label="Acc(%)", match={"data.modality": "rgb"}),),
        claims=(
            Claim(
                text="the wide model beats the narrow one", source="§1", a=("wide", "Acc(%)"), b=("narrow", "Acc(%)")
            ),
        ),
    )
    SPEC = SweepSpec(
        table=TABLE,
        cells=tuple(dict(row.match) for row in TABLE.rows),
        axes={"data.modality": ("rgb",)},
        profiles={"smoke": {"model.name": "toy_model:toy", **SMOKE, "optim.lr": 0.05}},
        default_profile="smoke",
    )

    if __name__ == "__main__":
        main(SPEC)
    '''
)


def package_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_a_model_registered_outside_actrec_resolves_by_module_and_name(tmp_path, monkeypatch):
    from actrec.models import registry

    # The plug-in's registration is undone after the test: the registry's tables are restored.
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_CLASS_BY_CONFIG", dict(registry._CLASS_BY_CONFIG))
    monkeypatch.delitem(sys.modules, "actrec_toy_plugin", raising=False)
    (tmp_path / "actrec_toy_plugin.py").write_text(TOY_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "actrec_toy_plugin:toy"
    config = model_config(name, width=4, num_classes=5)
    model = build_model(config)
    assert type(model) is model_class(name) and model.config.width == 4
    assert class_scores(model, model(*example_inputs(model, 2))).shape == (2, 5)
    assert not is_model("actrec_toy_plugin:other") and not is_model("actrec_no_such_module:toy")
    assert not is_model("toy")  # only MODULE:NAME names it, in every process alike


@pytest.mark.slow
def test_a_toy_paper_runs_its_smoke_sweep_from_a_temporary_directory(tmp_path):
    paper = tmp_path / "toy_paper"
    paper.mkdir()
    (paper / "toy_model.py").write_text(TOY_MODEL)
    (paper / "toy_sweep.py").write_text(TOY_SWEEP)
    before = package_digest()
    done = subprocess.run(
        [
            sys.executable,
            str(paper / "toy_sweep.py"),
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--storage-path",
            str(tmp_path / "runs"),
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Its own script (named unlike its sweep, toy_paper) gets the command that finishes it if the driver is lost.
    hint = f"finish it with: python {paper / 'toy_sweep.py'} --resume {tmp_path / 'runs'}"
    assert hint in done.stdout, done.stdout[-3000:]
    report = (tmp_path / "reports" / "toy_paper.md").read_text()
    assert "# Toy (2026) — Table 1: narrow and wide toy models" in report
    assert "| the wide model beats the narrow one (§1) | wide vs narrow, Acc(%) | inconclusive (1 seed) |" in report
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        names = {value for (value,) in db.execute("select value from params where key = 'model.name'")}
        finished = db.execute("select count(*) from runs where status = 'FINISHED'").fetchone()[0]
    assert names == {"toy_model:toy"} and finished == 3  # the parent run and its two trials
    assert package_digest() == before  # a new paper touched no file of the package
