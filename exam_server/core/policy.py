"""Who may use what: every URL rule and every Socket.IO event of the app, with the identities allowed.

This table is the authorisation policy in one place, read by people and checked against the app by
tests/hardening/test_authorisation_matrix.py: a route or event missing here fails that test, and the
test walks every entry with every identity (anonymous, a candidate, each staff role), expecting the
ones not named to be refused (401, 403 or a redirect to a login page) and the ones named not to be.
The checks themselves stay where they are (core/auth.py role_required, candidate_required, the socket
connect handlers); when you add a route or an event, add its line here.

An identity is "anonymous", "candidate" or a staff role (core/models.py ROLES). "admin" holds every
staff role (User.has_role), so every staff entry names it. `scope` says what else must hold beyond the
identity (checked by the view, not by this table): "own room" (a proctor acts on the room they are
assigned; centre staff and admins on every room), "own attempt" (the candidate's own), "own task" (a
grader's assigned marking task; a chief grader's any), "own job" (a job the user started, or one of a
kind their roles may read), "own centre" (organisations/scope.py: a centre's staff their centre's sites,
rooms, sittings and units; a unit's staff their unit; the province and admins everything; the police read
everything).
"""

from __future__ import annotations

from dataclasses import dataclass

from exam_server.core.models import ROLES

ANONYMOUS = "anonymous"
CANDIDATE = "candidate"
IDENTITIES: tuple[str, ...] = (ANONYMOUS, CANDIDATE, *ROLES)
STAFF: frozenset[str] = frozenset(ROLES)

OWN_ROOM = "own room"
OWN_ATTEMPT = "own attempt"
OWN_TASK = "own task"
OWN_JOB = "own job"
OWN_CENTRE = "own centre"


@dataclass(frozen=True)
class Access:
    """The identities allowed to use a route or event, and what else the view checks (`scope`).

    `public`: anyone may call it (login pages, assets, the health check); the test only checks that it
    answers. `hidden`: a refused identity gets 404 rather than 403, so the route does not reveal
    what exists (candidates asking for staff job files)."""

    who: frozenset[str]
    scope: str = ""
    public: bool = False
    hidden: bool = False

    def allows(self, identity: str) -> bool:
        return self.public or identity in self.who


def staff(*roles: str, scope: str = "") -> Access:
    """Staff holding any of `roles`; admins always."""
    unknown = set(roles) - STAFF
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return Access(frozenset({*roles, "admin"}), scope)


def candidate(scope: str = OWN_ATTEMPT) -> Access:
    return Access(frozenset({CANDIDATE}), scope)


PUBLIC = Access(frozenset(IDENTITIES), public=True)
SIGNED_IN = Access(frozenset(IDENTITIES) - {ANONYMOUS}, public=True)
ANY_STAFF = Access(STAFF)
JOB_READERS = Access(STAFF, scope=OWN_JOB, hidden=True)
ADMIN = staff()
# Machine-to-machine routes that no identity may use (their request is signed with a node key instead).
MACHINE = Access(frozenset())

AUTHORS = staff("author", "reviewer", "bank_manager")
WRITERS = staff("author", "bank_manager")
REVIEWERS = staff("reviewer", "bank_manager")
MANAGER = staff("bank_manager")
ANALYSTS = staff("bank_manager", "centre_staff")
CENTRE = staff("centre_staff")
# Places and sittings, scoped to the account's centre: the province acts on every centre's, the police read them.
CENTRE_PLACES = staff("centre_staff", "province", scope=OWN_CENTRE)
CENTRE_PLACES_READ = staff("centre_staff", "province", "police", scope=OWN_CENTRE)
CENTRE_SCOPED = staff("centre_staff", scope=OWN_CENTRE)
# The organisations: read by every account bound to one; kept by the province and (their own) by centres.
ORGANISATION_READERS = staff("centre_staff", "pilot_unit", "province", "police", scope=OWN_CENTRE)
ORGANISATION_KEEPERS = staff("centre_staff", "province", scope=OWN_CENTRE)
PROVINCE = staff("province")
REPORT_READERS = staff("centre_staff", "province", "police", scope=OWN_CENTRE)
PROCTORS = staff("proctor", "centre_staff", scope=OWN_ROOM)
GRADERS = staff("grader", "chief_grader", scope=OWN_TASK)
CHIEF = staff("chief_grader")

# Every URL rule, by endpoint.
ROUTES: dict[str, Access] = {
    # Logging in and out, the browser's code, Socket.IO's own path (answered by its middleware).
    "core.index": PUBLIC,
    "core.candidate_login": PUBLIC,
    "core.staff_login": PUBLIC,
    "core.logout": SIGNED_IN,
    "core.client_asset": PUBLIC,
    "static": PUBLIC,
    "socketio": PUBLIC,
    "ops.healthz": PUBLIC,
    # The candidate's exam page and its HTTP fallback.
    "delivery.exam_page": candidate(),
    "delivery.api_attempt": candidate(),
    "delivery.attempt_media": candidate(),
    "delivery.http_join": candidate(),
    "delivery.http_save": candidate(),
    "delivery.http_flag": candidate(),
    "delivery.http_submit": candidate(),
    "sessions.my_ticket": candidate(),
    "results.mine": candidate(),
    "results.ask_review": candidate(),
    "results.my_report": candidate(scope="own released outcome"),
    # The item bank.
    "bank.items": AUTHORS,
    "bank.item_detail": AUTHORS,
    "bank.diff": AUTHORS,
    "bank.media": AUTHORS,
    "bank.sets": AUTHORS,
    "bank.set_detail": AUTHORS,
    "bank.coverage_page": AUTHORS,
    "bank.tree": AUTHORS,
    "bank.exchange": AUTHORS,
    "bank.export": AUTHORS,
    "bank.template": AUTHORS,
    "bank.act": AUTHORS,
    "bank.api_areas": AUTHORS,
    "bank.api_item": AUTHORS,
    "bank.api_items": AUTHORS,
    "bank.api_preview": AUTHORS,
    "bank.api_transition": AUTHORS,
    "bank.new_item": WRITERS,
    "bank.edit_item": WRITERS,
    "bank.create": WRITERS,
    "bank.revise": WRITERS,
    "bank.create_set": WRITERS,
    "bank.update_set": WRITERS,
    "bank.upload": WRITERS,
    "bank.import_upload": WRITERS,
    "bank.import_report": staff("author", "reviewer", "bank_manager", scope=OWN_JOB),
    "bank.import_confirm": staff("author", "bank_manager", scope=OWN_JOB),
    "bank.api_create": WRITERS,
    "bank.api_revise": WRITERS,
    "bank.review_queue": REVIEWERS,
    "bank.bulk": REVIEWERS,
    "bank.api_bulk": REVIEWERS,
    "bank.tag_version": REVIEWERS,
    "bank.approve_batch": REVIEWERS,
    "bank.tree_create": MANAGER,
    "bank.tree_seed": MANAGER,
    "bank.tree_update": MANAGER,
    "bank.tree_weights": MANAGER,
    "bank.attributes": MANAGER,
    "bank.attribute_define": MANAGER,
    "bank.tree_export": AUTHORS,
    "bank.tree_import": MANAGER,
    "bank.tree_import_report": staff("bank_manager", scope=OWN_JOB),
    "bank.tree_import_confirm": staff("bank_manager", scope=OWN_JOB),
    # Test assembly.
    "assembly.blueprints": MANAGER,
    "assembly.blueprint_detail": MANAGER,
    "assembly.new_blueprint": MANAGER,
    "assembly.edit_blueprint": MANAGER,
    "assembly.edit_blueprint_text": MANAGER,
    "assembly.export_blueprint": MANAGER,
    "assembly.import_blueprint": MANAGER,
    "assembly.assemble": MANAGER,
    "assembly.forms": MANAGER,
    "assembly.form_review": MANAGER,
    "assembly.form_order": MANAGER,
    "assembly.form_plot": MANAGER,
    "assembly.form_action": MANAGER,
    # Item analysis.
    "analysis.index": ANALYSTS,
    "analysis.session_page": ANALYSTS,
    "analysis.form_page": ANALYSTS,
    "analysis.form_png": ANALYSTS,
    "analysis.item_page": ANALYSTS,
    "analysis.item_png": ANALYSTS,
    "analysis.export": ANALYSTS,
    "analysis.accept": MANAGER,
    "analysis.review": MANAGER,
    # Sittings, sites, rooms and tickets.
    "staff.sessions": CENTRE_PLACES_READ,
    "staff.session_detail": CENTRE_PLACES_READ,
    "sessions.sites": CENTRE_PLACES_READ,
    "sessions.create_site": CENTRE_PLACES,
    "sessions.update_site": CENTRE_PLACES,
    "sessions.create_room": CENTRE_PLACES,
    "sessions.set_seats": CENTRE_PLACES,
    "sessions.set_proctor": CENTRE_PLACES,
    "sessions.seating": CENTRE_SCOPED,
    "sessions.seat_candidates": CENTRE_SCOPED,
    "sessions.move_ticket": CENTRE_SCOPED,
    "sessions.tickets": CENTRE_SCOPED,
    "sessions.tickets_job": CENTRE_SCOPED,
    "sessions.seating_lists_job": CENTRE_SCOPED,
    "sessions.seating_pdf": staff("centre_staff", "proctor", scope=OWN_ROOM),
    "sessions.sittings": CENTRE_PLACES,
    "sessions.create_sitting": CENTRE_PLACES,
    "sessions.sitting": CENTRE_PLACES,
    "sessions.schedule_sitting": CENTRE_PLACES,
    "sessions.change_schedule": CENTRE_PLACES,
    # Proctoring.
    "proctoring.console": PROCTORS,
    "proctoring.room_console": PROCTORS,
    "proctoring.room_seats": PROCTORS,
    "proctoring.find": PROCTORS,
    "proctoring.room_action": PROCTORS,
    "proctoring.attempt_action": PROCTORS,
    "proctoring.attempt_log": PROCTORS,
    "proctor_logins.index": PROCTORS,
    "proctor_logins.unlock": PROCTORS,
    "proctor_logins.reset_password": PROCTORS,
    # Marking.
    "grading.queue": GRADERS,
    "grading.task": GRADERS,
    "grading.document": GRADERS,
    "grading.task_photo": GRADERS,
    "grading.mark": GRADERS,
    "grading.confirm": GRADERS,
    "grading.adjudicate": CHIEF,
    "grading.monitor": CHIEF,
    "grading.session_monitor": CHIEF,
    "grading.assign": CHIEF,
    "grading.reassign": CHIEF,
    "grading.setup": CENTRE,
    "grading.create_panel": CENTRE,
    "grading.assign_panel": CENTRE,
    "grading.upload_scans": CENTRE,
    "grading.upload_thesis": CENTRE,
    # Results.
    "results.session_results": CENTRE_SCOPED,
    "results.score": CENTRE_SCOPED,
    "results.release": CENTRE_SCOPED,
    "results.correct_key": CENTRE_SCOPED,
    "results.reviews": CENTRE_SCOPED,
    "results.decide": CENTRE_SCOPED,
    "results.history": CENTRE_SCOPED,
    "results.candidate_report": CENTRE_SCOPED,
    "results.score_reports": CENTRE_SCOPED,
    # Certificates (统一发证): a centre's staff issue, print, revoke and reissue their centre's; the holder reads
    # their own; anyone verifies one (rate-limited per address).
    "certificates.index": CENTRE_SCOPED,
    "certificates.issue": CENTRE_SCOPED,
    "certificates.batch_pdf": CENTRE_SCOPED,
    "certificates.detail": CENTRE_SCOPED,
    "certificates.pdf": CENTRE_SCOPED,
    "certificates.revoke_view": CENTRE_SCOPED,
    "certificates.reissue_view": CENTRE_SCOPED,
    "certificates.mine": candidate(scope="own certificate"),
    "certificates.my_pdf": candidate(scope="own certificate"),
    # Reports: the figures an account may see (a centre its own, the province and the police every centre's; a
    # pilot unit none); a centre's staff sign their centre's period file; the province imports and sums them.
    "reports.index": REPORT_READERS,
    "reports.plot_image": REPORT_READERS,
    "reports.holders": REPORT_READERS,
    "reports.workbook": REPORT_READERS,
    "reports.centre": CENTRE_SCOPED,
    "reports.centre_export": CENTRE_SCOPED,
    "reports.province": staff("province", "police"),
    "reports.province_import": PROVINCE,
    "reports.register_key": PROVINCE,
    "reports.province_workbook": staff("province", "police"),
    # The practical-skill assessment (操作技能): an examiner scores only at the station of the sitting they are
    # assigned to, a chief examiner decides only in the sitting they chair (else 404); centre staff run their
    # centre's skill sittings (progress, printed sheets typed in, the Excel import).
    "skills.examine": staff("grader", "chief_grader", scope="own station"),
    "skills.station": staff("grader", "chief_grader", scope="own station"),
    "skills.score": staff("grader", "chief_grader", scope="own station"),
    "skills.submit_score": staff("grader", "chief_grader", scope="own station"),
    "skills.candidate_photo": staff("grader", "chief_grader", scope="own station"),
    "skills.decisions": staff("chief_grader", scope="own sitting as chief examiner"),
    "skills.decide_view": staff("chief_grader", scope="own sitting as chief examiner"),
    "skills.stations": CENTRE,
    "skills.sittings": CENTRE_SCOPED,
    "skills.create_sitting_view": CENTRE_SCOPED,
    "skills.setup": CENTRE_SCOPED,
    "skills.sitting": CENTRE_SCOPED,
    "skills.sheet_pdf": CENTRE_SCOPED,
    "skills.enter_sheet": CENTRE_SCOPED,
    "skills.import_scores": CENTRE_SCOPED,
    "skills.absent": CENTRE_SCOPED,
    "verify.form": PUBLIC,
    "verify.by_code": PUBLIC,
    # Organisations: cities, centres, pilot units and their members.
    "organisations.index": ORGANISATION_READERS,
    "organisations.detail": ORGANISATION_READERS,
    "organisations.create_city": PROVINCE,
    "organisations.create_centre": PROVINCE,
    "organisations.create_unit": ORGANISATION_KEEPERS,
    "organisations.update": ORGANISATION_KEEPERS,
    "organisations.add_member": PROVINCE,
    # Applications: windows and rules kept by the province; a unit's staff enter, import and do 初审 on their
    # unit's applicants, a centre's staff 复审 on their units'; a candidate applies through a unit's link.
    "applications.windows": PROVINCE,
    "applications.open_window": PROVINCE,
    "applications.change_window": PROVINCE,
    "applications.rules": staff("pilot_unit", "centre_staff", "province", "police"),
    "applications.save_rules": PROVINCE,
    "applications.index": staff("pilot_unit", "centre_staff", "province", "police", scope=OWN_CENTRE),
    "applications.detail": staff("pilot_unit", "centre_staff", "province", "police", scope=OWN_CENTRE),
    "applications.photo": staff("pilot_unit", "centre_staff", "province", "police", scope=OWN_CENTRE),
    "applications.review": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.review_batch": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.upload_photo": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.new": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.create": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.import_page": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.import_upload": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.import_photos": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.template": staff("pilot_unit", "centre_staff", "province"),
    "applications.renew_link": staff("pilot_unit", "centre_staff", "province", scope=OWN_CENTRE),
    "applications.apply_form": PUBLIC,
    "applications.apply": PUBLIC,
    "applications.apply_status": PUBLIC,
    # Background jobs: any staff member's own jobs (a candidate is told nothing exists).
    # The offline node (sitenode/views.py): packages out and release codes at the centre; keys on both sides;
    # import at a site, and unsealing by the chief proctor (any proctor of the site) or the site's staff.
    "sitenode.exports": CENTRE_SCOPED,
    "sitenode.export_job": CENTRE_SCOPED,
    "sitenode.release_code": CENTRE_SCOPED,
    "sitenode.keys_page": CENTRE,
    "sitenode.register_key": CENTRE,
    "sitenode.import_page": CENTRE,
    "sitenode.import_job": CENTRE,
    "sitenode.unseal_page": staff("proctor", "centre_staff"),
    "sitenode.unseal": staff("proctor", "centre_staff"),
    "sitenode.rosters": PROCTORS,
    "sitenode.roster": PROCTORS,
    "sitenode.photo": PROCTORS,
    # Results packages (sitenode/results_views.py): built at a site, imported and scored at the centre.
    "siteresults.page": CENTRE,
    "siteresults.build_job": CENTRE,
    "siteresults.import_job": CENTRE,
    # A site's warm standby (sitenode/replication_views.py): no person, only a request signed with the site's node key.
    "replication.feed": MACHINE,
    "replication.snapshot": MACHINE,
    "jobs.index": JOB_READERS,
    "jobs.page": JOB_READERS,
    "jobs.status": JOB_READERS,
    "jobs.download": JOB_READERS,
    "jobs.cancel": JOB_READERS,
    # Operations.
    "ops.audit_log": CENTRE,
    "ops.audit_export": CENTRE,
    # Staff accounts: each member their own password; centre staff lift login delays; admins run accounts.
    "accounts.change_password": ANY_STAFF,
    "accounts.login_delays": CENTRE,
    "accounts.unlock": CENTRE,
    "accounts.users": ADMIN,
    "accounts.user_detail": ADMIN,
    "accounts.create_user": ADMIN,
    "accounts.disable": ADMIN,
    "accounts.enable": ADMIN,
    "accounts.reset_password": ADMIN,
    "accounts.set_roles": ADMIN,
}

EXAM_NS = "/exam"
PROCTOR_NS = "/proctor"
EXAM_EVENTS = candidate()
CONSOLE_EVENTS = staff("proctor", "centre_staff", scope=OWN_ROOM)

# Every Socket.IO event, by (namespace, event). A connection is refused unless the identity may use
# its namespace; every event is then checked again (the attempt or the room named in it).
SOCKET_EVENTS: dict[tuple[str, str], Access] = {
    **{(EXAM_NS, event): EXAM_EVENTS
       for event in ("connect", "disconnect", "join", "start", "save", "flag", "submit", "ping_time")},
    **{(PROCTOR_NS, event): CONSOLE_EVENTS
       for event in ("connect", "disconnect", "watch", "seats", "check_in", "admit_late", "pause", "resume", "extend",
                     "force_submit", "allow_move", "incident", "pause_room", "resume_room", "announce",
                     "room_incident")},
}


def route_access(endpoint: str) -> Access | None:
    return ROUTES.get(endpoint)


def event_access(namespace: str, event: str) -> Access | None:
    return SOCKET_EVENTS.get((namespace, event))
