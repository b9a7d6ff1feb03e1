"""Shared plumbing: file I/O and atomic writes, record checks, devices, the stage runner, code fingerprints, config checks."""
