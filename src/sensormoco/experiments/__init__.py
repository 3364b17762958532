"""Experiments: a declared matrix of runs, cached and resumable, with tables, plots and a report."""
