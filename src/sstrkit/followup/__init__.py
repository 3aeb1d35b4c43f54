"""sstrkit.followup."""
