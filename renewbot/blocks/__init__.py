"""Pure Block Kit builders: data in, dicts out. No Slack I/O, no database."""
