"""Server-rendered pages (Jinja2): patient, clinician, unblinded staff, researcher, admin."""
