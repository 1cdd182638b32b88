"""The results store: each run's description and the study tables (runs.csv, epochs.csv) it is written to and read from."""
