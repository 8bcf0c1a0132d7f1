"""Per-exit retrieval evaluation: accuracy and cost at every exit."""
