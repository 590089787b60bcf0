"""Indexes: unused, duplicate, redundant, invalid, and foreign keys without one."""

from __future__ import annotations
