"""The runtime: the only place that runs SpiffWorkflow workflows (start, step, save, restore, migrate)."""
