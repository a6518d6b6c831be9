"""ehrbench: a pytest benchmark of how faithfully LLMs generate synthetic structured health records."""

__version__ = "0.1.0"
