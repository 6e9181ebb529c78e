"""The local stack's servers, one module each; local/stack.py runs them."""
