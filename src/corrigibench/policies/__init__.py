"""Scripted reference policies, served as the Inspect model provider `scripted/<policy>`."""
