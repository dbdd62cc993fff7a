"""Imports every table so that Base.metadata is complete (for Alembic and the tests)."""

from exam_server.core.models import LoginThrottle, User  # noqa: F401
from exam_server.delivery.models import Attempt, AttemptEvent, Response  # noqa: F401
from exam_server.grading.models import (  # noqa: F401
    GradingAssignment,
    GradingDocument,
    GradingTask,
    Mark,
    Panel,
    PanelMember,
    Rubric,
)
from exam_server.jobs.models import Job  # noqa: F401
from exam_server.results.models import KeyCorrection, Result, ReviewRequest  # noqa: F401
from exam_server.sessions.models import (  # noqa: F401
    Candidate,
    ExamSession,
    Room,
    Seat,
    SessionForm,
    Site,
    Ticket,
)
from item_bank.audit import AuditEvent  # noqa: F401
from item_bank.models import (  # noqa: F401
    AreaWeight,
    Blueprint,
    Form,
    FormItem,
    Item,
    ItemSet,
    ItemVersion,
    KnowledgeArea,
    MediaFile,
    ReviewComment,
)
