"""Static assets of the admin site (one stylesheet, two small scripts), served under ``/admin/static/``.

A package only so that setuptools ships the files as its package data.
"""
