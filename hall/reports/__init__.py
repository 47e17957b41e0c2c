"""The hall's reports (issue #7): the daily operations report and the monthly summary.

``figures`` computes them from the event log (pure), ``source`` reads what they need from the
database, ``pdf`` draws them (reportlab), ``export`` writes CSV and JSON.
"""
