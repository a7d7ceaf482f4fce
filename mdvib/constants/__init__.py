"""Physical data tables: neutron cross sections and masses."""
