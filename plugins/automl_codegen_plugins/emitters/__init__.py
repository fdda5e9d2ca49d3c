"""Built-in emitters."""
