"""Tink's AES-GCM-HKDF streaming AEAD format, written and read with random access.

Stored files must stay readable by Tink itself, so this is Tink's published format, not our own:

    ciphertext = header || segment_0 || segment_1 || ... || segment_n
    header     = byte(header_size) || salt (derived_key_size bytes) || nonce_prefix (7 bytes)
    file key   = HKDF(hkdf_hash, ikm=key_value, salt=salt, info=associated_data, length=derived_key_size)
    segment_i  = AES-GCM(file key, nonce_prefix || uint32_be(i) || byte(i == n), plaintext_i), tag 16 bytes

Every segment but the last is ``segment_size`` bytes of ciphertext; segment_0 is shorter by the header,
so segment boundaries sit at multiples of ``segment_size`` in the file (Tink's ciphertext offset is 0).
The last-segment byte in the nonce is what makes truncation at a segment boundary detectable.

Tink's Python binding decrypts only from the start; HTTP Range downloads need :func:`decrypt_range`,
which is why the format is implemented here on ``cryptography`` and tested against ``tink`` both ways.

``key`` holds a key's sizes, header, file cipher and nonces; ``writer`` encrypts as a stream, ``reader``
decrypts one from the start, and ``ranges`` reads any byte range of a stored file.
"""

from export_pipelines.security.streaming_aead.key import DecryptionError, StreamingKey
from export_pipelines.security.streaming_aead.ranges import decrypt_range, identify_key
from export_pipelines.security.streaming_aead.reader import DecryptingReader
from export_pipelines.security.streaming_aead.writer import EncryptingWriter

__all__ = ["DecryptingReader", "DecryptionError", "EncryptingWriter", "StreamingKey", "decrypt_range", "identify_key"]
