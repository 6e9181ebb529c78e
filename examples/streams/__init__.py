"""Example streams, loaded with TIDEMARK_EXTRA_STREAMS=examples.streams.<name>."""
