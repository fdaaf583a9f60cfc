"""Drivers: which configs run, and where. Each is a short function over dlcli.lifecycle.

A driver prepares one or more configs (`lifecycle.prepare`, or `resume.reopen`
for a run that exists), decides each run's directory, and calls the
lifecycle's steps in order: `read_data`, `build`, `run`. It passes the
caller's `Observer` on, adds events of its own to it (K-fold's `fold_done`),
and returns what the command shows. It never prints and never changes the
lifecycle: a new way of running (a sweep, an ensemble, several processes) is
a new module here.

- `single`: one config, one run directory.
- `kfold`: `train.kfold=K` runs into one parent, then the mean and spread.
- `resume`: reopen a run (single or K-fold) and continue it.
- `smoke`: a recipe end to end on synthetic data, a couple of steps.
- `ensemble`: finished runs averaged into one run (`dlcli ensemble`), or `train.ensemble=N`
  members trained and then averaged.
"""
