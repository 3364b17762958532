"""Transfer evaluation: classification protocols, kNN, retrieval and metrics (docs/design.md §3)."""
