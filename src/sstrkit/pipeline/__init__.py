"""sstrkit.pipeline."""
