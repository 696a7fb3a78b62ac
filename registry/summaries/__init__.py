"""Scheduled follow-up summaries (issue 9): the daily centre digest and the weekly/monthly registry summary.

``selectors`` reads (a fixed number of queries whatever the number of patients per centre), ``services``
stores, renders and emails them (one row per scope, kind and period; a rerun replaces it), ``tasks`` are the
Celery jobs that beat runs, ``views`` the coordinators' pages.
"""
