"""Bounded fuzzing of the library's input surfaces: generated and mutated manifests, endpoints,
ids, snapshots, schemas and store records. ``make test`` runs a small slice; ``make fuzz`` runs
many (``FUZZ_EXAMPLES``)."""
