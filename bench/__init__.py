"""tasktrail benchmarks: each prints a table and its ratio against a reference run alongside."""
