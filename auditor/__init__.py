"""dbaudit: live database audit and tuning analyzer."""

__version__ = "0.1.0"
