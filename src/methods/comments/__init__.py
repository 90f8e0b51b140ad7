"""What victims said: redaction of free-text comments, their sentiment and their themes.

Redaction comes first (:mod:`methods.comments.redact`): :func:`~methods.comments.sentiment.sentiment`
and :func:`~methods.comments.themes.comment_themes` take a
:class:`~methods.comments.redact.Redacted` or redact what they are given before reading it.
"""
