"""Transfer evaluation: classification protocols, kNN, retrieval and metrics (DESIGN §3)."""
