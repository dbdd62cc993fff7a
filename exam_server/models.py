"""Imports every table so that Base.metadata is complete (for Alembic and the tests).

Importing a models module declares all of its tables, so the modules are named, not each class.
"""

# ruff: noqa: F401  (imported for what importing declares, never used by name)
import exam_server.applications.models
import exam_server.certificates.models
import exam_server.core.models
import exam_server.delivery.models
import exam_server.grading.models
import exam_server.jobs.models
import exam_server.organisations.models
import exam_server.reports.models
import exam_server.results.models
import exam_server.sessions.models
import exam_server.sitenode.models
import exam_server.skills.models
import item_bank.audit
import item_bank.models
