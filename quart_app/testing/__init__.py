"""The test kit for apps built on this one: a pytest plugin (``plugin``, registered under the
``pytest11`` entry point, so installing the package makes its fixtures available) and the real
hypercorn launcher behind its ``live_server`` fixture (``server``).

Fixtures: ``app``, ``client``, ``make_user``, ``signed_in_client``, ``api_client`` (a client of
the JSON API holding a bearer token), ``mail_outbox`` (the app's mails, received by a real SMTP
server in the test's loop: ``smtp``), ``csrf_token`` and ``live_server``; ``app_config`` and
``live_server_env`` are the places to change their settings.
"""
