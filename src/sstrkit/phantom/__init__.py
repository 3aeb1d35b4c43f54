"""sstrkit.phantom."""
