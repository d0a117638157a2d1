"""Built-in tag and node maps of the reference line (``builtin:NAME`` in the configuration)."""
