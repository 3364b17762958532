"""SEN12MS as distributed: layout, index, dataset, labels, splits, subset and synthetic data."""
