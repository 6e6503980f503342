"""renewbot from a checkout: `python bot.py COMMAND`, the same CLI as the installed `renewbot` command."""

import sys

from renewbot.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="bot.py"))
