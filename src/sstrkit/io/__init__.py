"""sstrkit.io."""
