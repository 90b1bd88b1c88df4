"""Probe delivery ([deception] deliver_probes, off by default): the one thing relaypot ever sends.

A message the probe classifier recognises as an open-relay test is delivered to its relay
recipients, under hard limits, so that the scanner's check succeeds and it comes back with what
the probe was for. Nothing else is ever delivered.
"""
