"""Keys and encryption at rest: the only package that touches key material.

Everything else in export_pipelines handles ciphertext, key ids and the :class:`Keyset` object, never
key bytes; nothing here logs, formats or raises with key material or plaintext in it.
"""
