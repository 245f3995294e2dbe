"""The outside world: HTTP service tasks, e-mail and SMS senders, integrator webhooks, uploaded files."""
