"""cartwatch dashboard: the application around the grading library (pages, services, command line)."""
