"""sstrkit.catalog."""
