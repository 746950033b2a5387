"""Compliance suite: audit, transport, access, GDPR and retention rules."""
