"""The HTTP edge both ``api`` and ``web`` stand on, and the app that composes them.

Configuration, the request context and its dependencies, sessions and tokens, error mapping,
middleware, idempotent creates, tabular responses and the reminder loop live here;
``microtrial.http.app`` builds the app from ``api.router()`` and ``web.pages.install``.
"""
