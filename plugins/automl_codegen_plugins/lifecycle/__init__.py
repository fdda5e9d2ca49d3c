"""Built-in lifecycle plugins: they watch a search through its start, trial-end and end hooks."""
