"""Data layer: band sets, SEN12MS readers, labels, splits, subsets and synthetic data."""
