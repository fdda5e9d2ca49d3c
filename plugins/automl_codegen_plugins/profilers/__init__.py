"""Built-in profilers."""
