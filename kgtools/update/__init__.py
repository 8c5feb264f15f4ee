"""Knowledge updates: what changed between two releases of an ontology (`kg diff`)."""
