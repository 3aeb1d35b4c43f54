"""sstrkit.report."""
