"""The JSON API (``/api/v1``) and the application factory shared with the web pages."""

from microtrial.api.app import create_app

__all__ = ["create_app"]
