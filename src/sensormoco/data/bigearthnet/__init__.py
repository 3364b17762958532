"""BigEarthNet-MM: v1 patch folders and labels."""
