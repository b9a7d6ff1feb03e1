"""Data: the task suites (BIG-bench and the paper's tasks), packaged resources, given files."""
