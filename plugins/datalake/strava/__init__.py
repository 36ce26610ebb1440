"""The Strava pipeline: connection and hook, token refresh with write-back, incremental extraction."""
