"""What the customer sees: texts per language, estimates and message templates."""
