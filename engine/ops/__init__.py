"""Operator tools: doctor, the demo factory and replay."""
