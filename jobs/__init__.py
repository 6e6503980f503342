"""Scheduled work: plain functions taking `now`, so tests call them with a frozen clock."""
