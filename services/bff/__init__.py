"""The web BFF: screens for the web app, composed from the user and order services."""
