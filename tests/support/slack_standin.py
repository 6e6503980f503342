"""The Slack stand-in lives in the package (the sandbox runs it too); tests import it from here as before."""

from renewbot.sandbox.standin import *  # noqa: F403
from renewbot.sandbox.standin import Call, SlackStandin  # noqa: F401
