"""Ring-polymer centroids from i-PI bead trajectories, for fits to PIMD.

Effective force constants of a PIMD run are fitted to the centroids
(docs/physics.md, "PIMD centroids"): centroid positions
r̄ = (1/P) Σ_k r_k and centroid forces F̄ = (1/P) Σ_k F_k over the P beads.
The files are found and read by :mod:`mdvib.io.ipi_beads` (:func:`bead_files`,
:class:`CentroidReader`: per-bead xyz files in i-PI's naming, averaged frame
by frame with minimum-image bead offsets); this module opens them as a
:class:`~mdvib.trajectory.Trajectory`.

(i-PI can also write the centroid directly: ``x_centroid`` and ``f_centroid``
trajectories, which the xyz reader opens as positions and forces.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mdvib.io.ipi_beads import CentroidReader, bead_files
from mdvib.trajectory import Trajectory

__all__ = ["CentroidReader", "bead_files", "centroid_trajectory"]


def centroid_trajectory(positions: str | Path | Sequence[str | Path], forces: str | Sequence[str | Path] = "for",
                        **options) -> Trajectory:
    """Open the centroid of an i-PI PIMD run as a :class:`~mdvib.trajectory.Trajectory`.

    Parameters
    ----------
    positions : path or sequence of paths
        One bead's positions file (``sim.pos_0.xyz``: all beads of that
        trajectory are found, see :func:`bead_files`), or every bead's file in order.
    forces : str or sequence of paths
        The i-PI file name of the forces trajectory of the same run (default
        ``"for"``: ``sim.for_*.xyz``), or every bead's forces file in order.
    **options
        Reader options (``dt_fs``: the MD time step in fs, since i-PI files
        record step numbers; ``type_map``, ``species``, ``masses``).

    Raises
    ------
    SettingsError
        If bead files are missing or do not pair up.
    """
    position_files = bead_files(positions) if isinstance(positions, (str, Path)) else [Path(p) for p in positions]
    force_files = (bead_files(position_files[0], forces) if isinstance(forces, str)
                   else [Path(f) for f in forces])
    return Trajectory(CentroidReader(position_files, force_files, **options))
