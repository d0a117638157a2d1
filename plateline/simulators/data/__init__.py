"""Bundled demo order files (see ``plateline.simulators.demo_data``)."""
