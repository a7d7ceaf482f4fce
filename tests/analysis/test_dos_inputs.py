"""DOS analyser: bad input and settings give clear errors; results round-trip through files."""

import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis, DOSResult
from mdvib.errors import MissingDataError, SettingsError, UnitsError
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.results import load_result
from mdvib.trajectory import Trajectory


def gaussian_trajectory(scale=1.0, n_frames=200, n_atoms=20, with_velocities=True):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(n_frames, n_atoms, 3)) * 0.01 * scale  # Å/fs, ~ hundreds of K for Si
    return Trajectory.from_arrays(np.cumsum(v, axis=0), ["Si"] * n_atoms, 1.0,
                                  velocities=v if with_velocities else None)


@pytest.mark.parametrize("kwargs,match", [
    ({"window": 1}, "window"),
    ({"window_function": "blackman"}, "window function"),
    ({"weights": "charge"}, "weights"),
    ({"blocks": 0}, "blocks"),
    ({"cross_section": "absorption"}, "cross section"),
    ({"quantum_correction": "magic"}, "quantum correction"),
])
def test_invalid_settings_rejected_before_reading(kwargs, match):
    with pytest.raises(SettingsError, match=match):
        DOSAnalysis(**kwargs)


def test_missing_velocities_suggests_finite_differences():
    traj = gaussian_trajectory(with_velocities=False)
    with pytest.raises(MissingDataError, match="--from-positions"):
        DOSAnalysis(window=20).run(traj)


@pytest.mark.parametrize("scale,hint", [
    (1e-3, r"1000× too small for the unit the \S+ reader assumed .*takes no --units"),
    (1e3, r"1000× too large for the unit"),
])
def test_implausible_temperature_points_at_units(scale, hint):
    """Arrays have no --units; LAMMPS dumps get --units real/metal (tests/test_cli.py)."""
    with pytest.raises(UnitsError, match=hint):
        DOSAnalysis(window=20).run(gaussian_trajectory(scale))
    # explicitly accepted
    DOSAnalysis(window=20, check_temperature=False).run(gaussian_trajectory(scale))


def test_window_longer_than_blocks_names_the_fix():
    with pytest.raises(SettingsError, match="shorter --window or fewer --blocks"):
        DOSAnalysis(window=150, blocks=4).run(gaussian_trajectory())


def test_empty_selection_is_rejected():
    with pytest.raises(SettingsError, match="empty"):
        DOSAnalysis(window=10).run(gaussian_trajectory(), start=500)


class _NoTimeReader(TrajectoryReader):
    format_name = "test-no-time"

    def _scan(self):
        return TrajectoryInfo(path="frames.xyz", format=self.format_name, n_atoms=2, n_frames=10,
                              atom_ids=np.arange(2), species=("H", "H"), masses=np.ones(2),
                              has_velocities=True, has_forces=False, frame_spacing_fs=None)

    def _iter_frames(self, frames, chunk_frames):
        yield FrameChunk(first_frame=0, cells=np.zeros((10, 3, 3)), positions=np.zeros((10, 2, 3)),
                         velocities=np.ones((10, 2, 3)))


def test_missing_time_step_asks_for_dt():
    with pytest.raises(MissingDataError, match="--dt"):
        DOSAnalysis(window=10, blocks=1).run(Trajectory(_NoTimeReader("frames.xyz")))


def test_h5_round_trip_keeps_arrays_units_and_provenance(tmp_path):
    result = DOSAnalysis(window=40).run(gaussian_trajectory())
    path = tmp_path / "dos.h5"
    result.save(path)
    loaded = load_result(path)
    assert isinstance(loaded, DOSResult)
    for name in ("frequencies_thz", "total", "partial", "raw_power", "total_err", "partial_err"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(result, name))
    assert loaded.species == ("Si",)
    assert loaded.provenance == result.provenance
    assert loaded.provenance.settings["window"] == 40
    import h5py

    with h5py.File(path) as h5:
        assert h5["frequencies_thz"].attrs["unit"] == "THz"
        assert h5["total"].attrs["unit"] == "1/THz"
        assert h5.attrs["mdvib_schema"] == 1


def test_csv_columns_and_values(tmp_path):
    result = DOSAnalysis(window=40).run(gaussian_trajectory())
    path = tmp_path / "dos.csv"
    result.save(path)
    header = path.read_text().splitlines()[0]
    assert header == "frequency_THz,total,Si,total_err,Si_err"
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_allclose(data[:, 1], result.total, rtol=1e-7, atol=1e-12)


def test_unknown_output_extension_is_rejected(tmp_path):
    result = DOSAnalysis(window=40).run(gaussian_trajectory())
    with pytest.raises(SettingsError, match=r"\.h5 or \.csv"):
        result.save(tmp_path / "dos.txt")


def test_failed_write_keeps_previous_file(tmp_path):
    from mdvib.results import atomic_path

    path = tmp_path / "dos.csv"
    path.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["dos.csv"]


def test_coarse_and_noisy_spectra_are_flagged(tmp_path):
    """30 frames, a window of 12 lags in blocks of 15 frames: computed, with warnings in the result and on stderr."""
    import gzip
    import subprocess
    import sys

    from mdvib.analysis.dos import SpectrumWarning
    from mdvib.cli.demo import demo_trajectory

    lines = gzip.decompress(demo_trajectory().read_bytes()).decode().splitlines(keepends=True)
    path = tmp_path / "thirty.dump"
    path.write_text("".join(lines[: 225 * 30]))
    with pytest.warns(SpectrumWarning) as record:
        result = DOSAnalysis(window=12, blocks=2).run(Trajectory.open(path, dt_fs=1.0, type_map={1: "Si"}))
    coarse, noisy = (str(w.message) for w in record)
    assert "window of only 12 lags (13 frequencies" in coarse
    assert "averaged over only 4 time origins and the spectrum is noisy" in noisy
    assert [coarse, noisy] == [f"{path}: {text}" for text in result.warnings]
    out = subprocess.run([sys.executable, "-m", "mdvib.cli.main", "dos", str(path), "--dt", "1", "--types", "1=Si",
                          "--window", "12", "--blocks", "2", "--quiet", "-o", str(tmp_path / "dos.h5")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "mdvib dos: warning: the spectrum rests on a window of only 12 lags" in out.stderr
