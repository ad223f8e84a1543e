"""End-to-end test of the demo chat in headless Chromium."""
