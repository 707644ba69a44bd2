"""Building and incrementally updating the CodeGraph index."""
