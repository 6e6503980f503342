"""renewbot: a Slack bot that keeps a team ahead of expiring credentials.

Packages: runtime (process wiring: settings, CLI, HTTP, server), usecases
(what a person or the scheduler asks for), domain (pure rules: no Slack, no
SQL), blocks (pure Block Kit builders and every Slack ID). Slack listeners,
scheduled jobs and storage are the top-level handlers, jobs and storage.
"""

__version__ = "0.2.0"
