"""`python -m renewbot`: the same CLI as the `renewbot` command."""

import sys

from renewbot.runtime.cli import main

sys.exit(main(prog="renewbot"))
