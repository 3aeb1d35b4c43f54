"""sstrkit.therapy."""
