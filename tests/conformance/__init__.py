"""Differential conformance: random scenarios on a real restate-server and on the model."""
