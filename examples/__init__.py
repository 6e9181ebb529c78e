"""Examples built on tidemark's public pieces; nothing under jobs/ imports them."""
