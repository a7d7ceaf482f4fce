"""Parallel parts (processes and Dask) give the serial numbers, and errors in workers reach the caller."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis
from mdvib.analysis.tdep import Reference, TDEPAnalysis
from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.trajectory import Trajectory

DUMP = Path(__file__).resolve().parents[2] / "mdvib" / "data" / "si_sw_300K.dump.gz"
DATA = Path(__file__).resolve().parents[1] / "data" / "regression"


@pytest.fixture(scope="module")
def trajectory():
    return Trajectory.open(DUMP, dt_fs=1.0, type_map={1: "Si"})


@pytest.fixture(scope="module")
def serial_dos(trajectory):
    return DOSAnalysis(blocks=4, weights="neutron").run(trajectory, stop=800)


@pytest.mark.parametrize("scheduler", [None, "local"])
def test_dos_blocks_in_parallel_equal_serial(trajectory, serial_dos, scheduler):
    if scheduler is not None:
        pytest.importorskip("distributed")
    parallel = DOSAnalysis(blocks=4, weights="neutron").run(trajectory, stop=800, workers=2, scheduler=scheduler)
    for name in ("total", "total_err", "partial", "raw_power", "raw_power_err"):
        np.testing.assert_allclose(getattr(parallel, name), getattr(serial_dos, name), rtol=1e-12, atol=1e-15)
    assert parallel.temperature_k == pytest.approx(serial_dos.temperature_k, rel=1e-12)
    assert parallel.provenance.execution == {"workers": 2, "scheduler": scheduler}


def test_tdep_in_parallel_equals_serial():
    data = np.load(DATA / "tdep_input_rattled_si64.npz")
    n = data["positions"].shape[1]
    reference = Reference(cell=data["cell"], positions=data["reference_positions"], species=("Si",) * n,
                          masses=np.full(n, 28.0855))
    trajectory = Trajectory.from_arrays(data["positions"], ["Si"] * n, 1.0, forces=data["forces"],
                                        cells=data["cell"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = TDEPAnalysis(reference, rc2=4.0, rc3=3.5, cv_folds=3).run(trajectory)
        parallel = TDEPAnalysis(reference, rc2=4.0, rc3=3.5, cv_folds=3).run(trajectory, workers=2)
    scale = np.abs(serial.fc2_tensors).max()
    np.testing.assert_allclose(parallel.fc2_tensors, serial.fc2_tensors, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(parallel.fc3_tensors, serial.fc3_tensors, rtol=0,
                               atol=1e-12 * np.abs(serial.fc3_tensors).max())
    for name in ("r2", "rmse", "cv_rmse", "anharmonicity"):
        assert getattr(parallel, name) == pytest.approx(getattr(serial, name), rel=1e-12)


def test_bad_worker_settings(trajectory):
    with pytest.raises(SettingsError, match="workers must be a positive integer"):
        DOSAnalysis().run(trajectory, workers=0)


def test_reader_error_in_a_worker_names_file_and_frame(tmp_path):
    text = DUMP.read_bytes()
    import gzip

    lines = gzip.decompress(text).decode().splitlines(keepends=True)
    frame = 216 + 9
    bad = lines[: 700 * frame]
    bad[650 * frame + 9 + 3] = "5 1 nan 0 0 0 0 0\n"  # an atom line of frame 650 (the fourth block)
    path = tmp_path / "bad.dump"
    path.write_text("".join(bad))
    trajectory = Trajectory.open(path, dt_fs=1.0, type_map={1: "Si"})
    with pytest.raises(TrajectoryFormatError, match=r"bad.dump, frame 650"):
        DOSAnalysis(blocks=4, window=50).run(trajectory, workers=2)


class _DiesInWorkers(DOSAnalysis):
    """A DOS whose worker processes die (as if killed for memory)."""

    def _accumulate(self, accumulator, chunk):
        import os

        os._exit(3)


def test_a_dead_worker_is_a_clear_error_and_the_next_run_works(trajectory, serial_dos):
    from mdvib.errors import MdvibError

    with pytest.raises(MdvibError, match=r"a worker process of the VACF analysis died .*try fewer workers"):
        _DiesInWorkers(blocks=4).run(trajectory, stop=800, workers=2)
    again = DOSAnalysis(blocks=4, weights="neutron").run(trajectory, stop=800, workers=2)
    np.testing.assert_allclose(again.total, serial_dos.total, rtol=1e-12)
