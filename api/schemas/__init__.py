"""Marshmallow schemas of the HTTP contract (the only schema system at this boundary)."""
