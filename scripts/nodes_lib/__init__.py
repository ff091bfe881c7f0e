"""scripts/nodes: a local cluster of real Linux nodes (tier 3). See docs/nodes.md."""
