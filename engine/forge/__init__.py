"""Delivery through the team's forge (GitHub, GitLab): clients and forge weather.

Sits above workspace (it knows git branches) and below pipeline (whose delivery step
drives it). The client libraries come from the optional extra `andon[forge]`.
"""
