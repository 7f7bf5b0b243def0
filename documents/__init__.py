"""Documents a person takes away: the court, practice and review chronologies as one
HTML template (the console shows it; WeasyPrint typesets it to PDF) and as Word files
built to A4 with page-number fields (ADR 0031).

A layer beside ``projections``: it reads what the read models give (the chronology's
rows and members, the exports' tables and summary of involvement) and never the
application, the HTTP API or the console.
"""
