"""Core values every layer shares: content and ids, errors, paths, masking. No I/O, no dependencies."""
