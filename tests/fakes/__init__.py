"""Fake external services (real HTTP servers on localhost) for local runs and tests."""
