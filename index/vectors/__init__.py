"""Vector indexes behind one contract (see base.py)."""
