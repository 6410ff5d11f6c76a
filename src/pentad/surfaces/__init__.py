"""Surfaces: one package per API document, translating its HTTP contract onto core and engines."""
