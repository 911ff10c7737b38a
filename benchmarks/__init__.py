"""The benchmarks of ``make bench`` (see ``benchmarks/README.md``): run them with
``python -m benchmarks`` from the repository's root.

* :mod:`benchmarks.workload`: the registries measured, and the dict-and-tuple baseline;
* :mod:`benchmarks.measure` and :mod:`benchmarks.storage`: how each figure is measured;
* :mod:`benchmarks.targets`: the targets, one row each;
* :mod:`benchmarks.runner`: the run, the table and the exit status.
"""
