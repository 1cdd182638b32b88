"""Running a study: the sweep over a grid of runs, through papermill or in process."""
