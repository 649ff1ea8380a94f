"""The kernel every app may import: domain errors and the one-line event log."""
