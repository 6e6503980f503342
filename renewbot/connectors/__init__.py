"""Connectors: where a renewal is delivered (the platform that uses the credential). See base.py."""
