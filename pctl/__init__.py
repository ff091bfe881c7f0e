"""pctl: turn a short YAML template into a working AWS ParallelCluster v3 cluster."""

__version__ = "0.1.0"
