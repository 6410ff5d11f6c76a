"""Engines: capabilities used by more than one surface. An engine imports only `pentad.core`."""
