"""The packed store: format, packing and its dataset."""
