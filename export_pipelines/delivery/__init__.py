"""Delivery: signed download links, and the service that turns a link into the decrypted file.

``links`` mints and verifies the links (keys live in ``security.signing_keys``), ``exports`` decides
whether the export a link names can still be had, ``app`` and ``pages`` serve it, ``download_log``
records every attempt in the Dagster instance, and ``commands`` adds link, revoke and serve to the CLI.
"""
