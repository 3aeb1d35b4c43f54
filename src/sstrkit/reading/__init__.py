"""sstrkit.reading."""
