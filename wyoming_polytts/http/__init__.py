"""The admin web page and its JSON API."""
