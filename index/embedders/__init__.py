"""Dense embedders behind one contract (see base.py)."""
