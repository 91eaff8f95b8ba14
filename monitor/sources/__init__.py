"""Sources: pollers that turn vendor rows into canonical records (never decide violations)."""
