"""Trajectory layer: frame selection, re-chunking, unwrapping and finite-difference velocities."""

from dataclasses import replace

import numpy as np
import pytest

from mdvib.errors import SettingsError
from mdvib.io.memory import ArrayReader
from mdvib.trajectory import Trajectory


def ramp_trajectory(n_frames=50, n_atoms=3, dt=2.0):
    t = np.arange(n_frames)[:, None, None] * dt
    positions = np.broadcast_to(0.01 * t + np.arange(n_atoms)[None, :, None], (n_frames, n_atoms, 3)).copy()
    velocities = np.full_like(positions, 0.01)
    return Trajectory.from_arrays(positions, ["C", "H", "C"][:n_atoms], dt, velocities=velocities)


@pytest.mark.parametrize("start,stop,step,chunk", [(0, None, 1, 7), (3, 40, 3, 4), (5, None, 7, 64), (0, 50, 2, 1)])
def test_selection_and_rechunking_preserve_frames(start, stop, step, chunk):
    traj = ramp_trajectory()
    selection = traj.select(start, stop, step)
    frames = [c for c in traj.iter_chunks(selection, chunk_frames=chunk)]
    assert all(c.n_frames == chunk for c in frames[:-1])
    positions = np.concatenate([c.positions for c in frames])
    np.testing.assert_array_equal(positions, traj.reader.positions[start:stop:step])
    assert [c.first_frame for c in frames] == list(range(0, selection.n_frames, chunk))
    assert traj.frame_spacing_fs(step) == 2.0 * step


def test_invalid_selection():
    traj = ramp_trajectory()
    with pytest.raises(SettingsError, match="step must be"):
        traj.select(step=0)
    with pytest.raises(SettingsError, match="empty"):
        traj.select(60)


def test_species_grouping_in_order_of_appearance():
    traj = ramp_trajectory()
    assert traj.unique_species() == ("C", "H")
    np.testing.assert_array_equal(traj.species_index(), [0, 1, 0])


def test_finite_difference_velocities_across_chunk_boundaries():
    dt = 0.5
    t = np.arange(40) * dt
    omega = 0.3
    positions = np.zeros((40, 1, 3))
    positions[:, 0, 0] = np.sin(omega * t)
    traj = Trajectory.from_arrays(positions, ["Ar"], dt)
    chunks = list(traj.iter_chunks(chunk_frames=5, need_velocities=True, from_positions=True))
    v = np.concatenate([c.velocities for c in chunks])[:, 0, 0]
    assert v.shape == (38,)
    expected = (np.sin(omega * t[2:]) - np.sin(omega * t[:-2])) / (2 * dt)
    np.testing.assert_allclose(v, expected, rtol=1e-12)
    np.testing.assert_allclose(v, omega * np.cos(omega * t[1:-1]), rtol=2e-2)


def test_wrapped_positions_are_unwrapped_for_finite_differences():
    """An atom drifting through a 10 Å periodic box: wrapped input gives the true constant velocity."""
    n_frames, dt, speed = 30, 1.0, 0.7  # Å/fs: crosses the box twice
    true = np.zeros((n_frames, 1, 3))
    true[:, 0, 0] = speed * np.arange(n_frames) * dt
    cell = np.eye(3) * 10.0
    reader = ArrayReader(true % 10.0, ["Ar"], dt, cells=cell)
    original = reader.iter_chunks

    def wrapped_chunks(*args, **kwargs):
        for chunk in original(*args, **kwargs):
            yield replace(chunk, unwrapped=False)

    reader.iter_chunks = wrapped_chunks
    chunks = list(Trajectory(reader).iter_chunks(chunk_frames=4, from_positions=True))
    v = np.concatenate([c.velocities for c in chunks])
    np.testing.assert_allclose(v[:, 0, 0], speed, rtol=1e-12)
    np.testing.assert_allclose(v[:, 0, 1:], 0.0, atol=1e-12)


def test_uneven_spacing_error_names_the_frame_and_what_to_do():
    from mdvib.errors import MissingDataError

    traj = ramp_trajectory()
    traj.reader._info = replace(traj.info, frame_spacing_fs=None, uniform_spacing=False, uneven_frame=4)
    with pytest.raises(MissingDataError) as err:
        traj.frame_spacing_fs()
    assert str(err.value) == (
        "<memory>: frames are not evenly spaced in time: the spacing changes at frame 4 (frame 4 is not as far "
        "from frame 3 as frame 1 is from frame 0). Correlation functions need one frame spacing, so it is left "
        "unknown for the whole file and --start/--stop cannot pick an even part: split the file at frame 4 "
        "(where the dump interval or time step changed) and analyse each evenly spaced part on its own")


def test_nan_in_arrays_names_frame_and_atom():
    from mdvib.errors import TrajectoryFormatError

    traj = ramp_trajectory()
    traj.reader.velocities[17, 2, 0] = np.inf
    with pytest.raises(TrajectoryFormatError, match=r"<memory>, frame 17, atom id 2: velocities contain a non-finite"):
        list(traj.iter_chunks(chunk_frames=8))


def test_wrapped_positions_in_a_cell_without_volume_name_the_frame():
    """A reader that gives wrapped positions and no cell (e.g. a DCD without unit cell through MDAnalysis)."""
    from dataclasses import replace

    from mdvib.errors import TrajectoryFormatError

    positions = np.zeros((4, 2, 3))
    positions[:, 1] = 1.0
    trajectory = Trajectory.from_arrays(positions, ["Si", "Si"], 1.0, cells=np.zeros((4, 3, 3)))
    reader = trajectory.reader
    original = reader.iter_chunks
    reader.iter_chunks = lambda *a, **k: (replace(c, unwrapped=False) for c in original(*a, **k))
    with pytest.raises(TrajectoryFormatError, match=r"<memory>, frame 1: positions are wrapped .* no volume"):
        list(trajectory.iter_chunks(from_positions=True))
