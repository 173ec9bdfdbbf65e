"""Specs: reading and validating spec files, and their cron schedules."""
