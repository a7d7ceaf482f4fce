"""The analysis registry: a tiny analyser registered from outside mdvib reaches the CLI, campaigns and load_result.

The tiny analyser (the kinetic temperature by equipartition, built on
:class:`~mdvib.analysis.base.AnalysisBase`) lives in this test module: its
result class, CLI front end and campaign function are defined here, and no
mdvib module is edited to make it reachable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mdvib.analysis.base import AnalysisBase, Part
from mdvib.analysis.registry import (
    AnalysisOutput,
    AnalysisSpec,
    analyses,
    campaign_settings,
    get_analysis,
    register_analysis,
    unregister_analysis,
)
from mdvib.cli.common import add_trajectory_options, open_trajectory
from mdvib.cli.main import main
from mdvib.errors import SettingsError
from mdvib.results import Provenance, load_result, quantity, result_type, save_result
from mdvib.units import AMU_A2_PER_FS2_IN_EV, KB_EV_PER_K

DUMP = Path(__file__).resolve().parents[2] / "mdvib" / "data" / "si_sw_300K.dump.gz"


@result_type
@dataclasses.dataclass(frozen=True)
class KineticTemperature:
    """Equipartition temperature of the selected frames."""

    temperature_k: float = quantity("K", "()", "2 <E_kin> / ((3N - 3) k_B)")
    n_frames: int = quantity("", "()", "frames averaged")
    provenance: Provenance = dataclasses.field(default=None)

    def save(self, path) -> None:
        save_result(self, path)


class KineticTemperatureAnalysis(AnalysisBase):
    """Mean kinetic energy → temperature; parts are contiguous ranges, merged by summing."""

    needs_velocities = True
    needs_frame_spacing = False

    def __init__(self, progress: bool = False):
        self.progress = progress

    def _prepare(self, trajectory, selection):
        self._masses = trajectory.masses
        self._dof = 3 * trajectory.n_atoms - 3

    def _new_accumulator(self, part: Part):
        return {"sum": 0.0, "frames": 0}

    def _accumulate(self, accumulator, chunk):
        accumulator["sum"] += float(np.einsum("i,fij,fij->", self._masses, chunk.velocities, chunk.velocities))
        accumulator["frames"] += chunk.n_frames

    def merge(self, first, second):
        return {"sum": first["sum"] + second["sum"], "frames": first["frames"] + second["frames"]}

    def _conclude(self, total, provenance):
        kinetic = 0.5 * total["sum"] / total["frames"] * AMU_A2_PER_FS2_IN_EV
        return KineticTemperature(2.0 * kinetic / (self._dof * KB_EV_PER_K), total["frames"], provenance)


# -- the CLI front end (this module is the spec's ``command``)
DESCRIPTION = "kinetic temperature by equipartition (test analyser)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_trajectory_options(parser)
    parser.add_argument("-o", "--output", required=True)


def run(args: argparse.Namespace) -> None:
    result = KineticTemperatureAnalysis().run(open_trajectory(args), start=args.start, stop=args.stop,
                                              step=args.step, workers=args.workers)
    result.save(args.output)


# -- campaigns
@dataclasses.dataclass(frozen=True)
class TinySettings:
    stop: int | None = None

    def __post_init__(self):
        if self.stop is not None and self.stop < 1:
            raise SettingsError(f"stop must be positive, got {self.stop}")


def run_in_campaign(step, settings: TinySettings) -> AnalysisOutput:
    result = KineticTemperatureAnalysis().run(step.open_trajectory(), stop=settings.stop)
    path = step.directory / "tiny.h5"
    result.save(path)
    return AnalysisOutput(result, (path,))


SERIES_CALLS = []


def plot_series(directories, labels, path, title=None):
    SERIES_CALLS.append([str(load_result(Path(d) / "tiny.h5").temperature_k) for d in directories])
    Path(path).write_text("\n".join(SERIES_CALLS[-1]))


@pytest.fixture
def tiny():
    spec = register_analysis(AnalysisSpec(name="tiny", help="kinetic temperature (test)", command=__name__,
                                          campaign_settings=TinySettings, run_in_campaign=run_in_campaign,
                                          result_file="tiny.h5", plot_series=plot_series,
                                          series_file="tiny_series.txt"))
    yield spec
    unregister_analysis("tiny")


def test_builtin_analyses_are_registered():
    assert {"dos", "tdep"} <= set(analyses())
    assert get_analysis("dos").result_file == "dos.h5"


def test_tiny_analyser_from_the_cli_and_load_result(tiny, tmp_path):
    out = tmp_path / "tiny.h5"
    assert main(["tiny", str(DUMP), "--dt", "1", "--types", "1=Si", "--stop", "300", "-o", str(out)]) == 0
    result = load_result(out)
    assert isinstance(result, KineticTemperature)
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.trajectory import Trajectory

    dos = DOSAnalysis(blocks=1).run(Trajectory.open(DUMP, dt_fs=1.0, type_map={1: "Si"}), stop=300)
    # the same equipartition temperature as the DOS's kinetic-energy integral (independent code path)
    assert result.temperature_k == pytest.approx(dos.temperature_k, rel=1e-9)
    assert result.n_frames == 300


def test_tiny_analyser_in_parallel_gives_the_same_number(tiny):
    from mdvib.trajectory import Trajectory

    trajectory = Trajectory.open(DUMP, dt_fs=1.0, type_map={1: "Si"})
    serial = KineticTemperatureAnalysis().run(trajectory, stop=400)
    parallel = KineticTemperatureAnalysis().run(trajectory, stop=400, workers=2)
    assert parallel.temperature_k == pytest.approx(serial.temperature_k, rel=1e-12)


def test_tiny_analyser_in_a_campaign(tiny, tmp_path):
    from mdvib.campaign import Campaign, CampaignConfig
    from tests.test_campaign import write_config

    path = write_config(tmp_path, temperatures=(300,))
    path.write_text(path.read_text().replace("[dos]", "[analysis.tiny]\nstop = 50\n\n[analysis.dos]"))
    config = CampaignConfig.from_toml(path)
    assert list(config.analyses) == ["tiny", "dos"]
    (result,) = Campaign(config, progress=False).run()
    tdir = result.directory
    tiny_result = load_result(tdir / "tiny.h5")
    assert result.results["tiny"].temperature_k == tiny_result.temperature_k > 0
    assert (tdir.parent / "tiny_series.txt").read_text() == str(tiny_result.temperature_k)
    state = json.loads((tdir / "analyses.json").read_text())
    assert state["tiny"]["settings"] == {"stop": 50} and state["tiny"]["files"] == ["tiny.h5"]

    # resume per analysis: a changed tiny setting reruns only the tiny analysis
    dos_mtime = (tdir / "dos.h5").stat().st_mtime_ns
    path.write_text(path.read_text().replace("stop = 50", "stop = 60"))
    (again,) = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    assert not again.skipped and again.results["tiny"].n_frames == 60
    assert (tdir / "dos.h5").stat().st_mtime_ns == dos_mtime

    # a damaged result file is redone, not a traceback
    (tdir / "tiny.h5").write_bytes(b"not hdf5")
    (third,) = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    assert third.results["tiny"].n_frames == 60 and load_result(tdir / "tiny.h5").n_frames == 60


@pytest.mark.parametrize("table, message", [
    ({"stpo": 3}, r"unknown setting 'stpo' \(did you mean 'stop'\?\)"),
    ({"stop": "3"}, r"stop = '3' is not an integer"),
    ({"stop": 2.5}, r"stop = 2.5 is not an integer"),
    ({"stop": 0}, r"\[analysis.tiny\]: stop must be positive"),
])
def test_bad_campaign_tables_are_named(tiny, table, message):
    with pytest.raises(SettingsError, match=message):
        campaign_settings(tiny, table, "[analysis.tiny]")


@pytest.mark.parametrize("table, message", [
    ({"window": "20"}, r"\[analysis.dos\]: window = '20' is not an integer"),
    ({"blocks": True}, r"blocks = True is not an integer"),
    ({"weights": "neutrons"}, r"unknown weights 'neutrons'"),
    ({"windw": 20}, r"did you mean 'window'"),
])
def test_bad_dos_tables(table, message):
    with pytest.raises(SettingsError, match=message):
        campaign_settings(get_analysis("dos"), table, "[analysis.dos]")


def test_bad_tdep_tables():
    spec = get_analysis("tdep")
    with pytest.raises(SettingsError, match=r"missing required setting\(s\) \['rc2'\]"):
        campaign_settings(spec, {}, "[analysis.tdep]")
    with pytest.raises(SettingsError, match="stride must be a positive integer or 'auto'"):
        campaign_settings(spec, {"rc2": 5, "stride": "often"}, "[analysis.tdep]")
    with pytest.raises(SettingsError, match="rc2 must be positive"):
        campaign_settings(spec, {"rc2": -1}, "[analysis.tdep]")
    assert campaign_settings(spec, {"rc2": 5, "invariances": ["huang"]}, "[analysis.tdep]").rc2 == 5


def test_unknown_analysis_in_a_campaign(tmp_path):
    from mdvib.campaign import CampaignConfig
    from tests.test_campaign import write_config

    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("[dos]", "[analysis.dso]"))
    with pytest.raises(SettingsError, match=r"unknown analysis 'dso' \(did you mean 'dos'\?\)"):
        CampaignConfig.from_toml(path)
