"""`renewbot sandbox`: the real bot against an in-process Slack stand-in, shown as a local web page."""
