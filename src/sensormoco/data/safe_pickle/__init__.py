"""Loading pickles of plain data safely: dicts, lists, strings, numbers and numeric numpy
arrays, and nothing else (see :mod:`.loader`)."""

from sensormoco.data.safe_pickle.loader import load_restricted_pickle, short_text, type_name

__all__ = ["load_restricted_pickle", "short_text", "type_name"]
