"""Run directories: created without collisions, written atomically, found again by id."""

from dlcli.runs.rundir import atomic_write, find, latest, unused, write_json

__all__ = ["atomic_write", "find", "latest", "unused", "write_json"]
