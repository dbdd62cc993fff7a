"""Applications (鉴定申请): windows per level and part, three ways in under one rule set, ID photos, eligibility
rules as data, and the two-stage review (初审 by the unit, 复审 by the centre). Layer: above organisations, below
sessions (sessions may import this package; this package never imports sessions).

Rooms: `models` (ApplicationWindow, Application, ApplicantPhoto, UnitApplicationLink, EligibilityRuleSet),
`idcard` (GB 11643), `levels` (level names: 初级保安员 / 初级 / 五级 / 5 ...), `eligibility` (the named rules),
`intake` (the one rule set every way in goes through), `excel` (template and bounded reader), `photos`,
`review` (the StateMachine), `operations` (every write), `queries` (every read), `jobs` ("applications.import"),
`cli`, `views`.

For the sittings package (scheduling, tickets, the proctor's view):

    from exam_server.applications.queries import approved_applications, applicant_photo, exemption_on
    rows = approved_applications(session, unit_ids=[...], city_id=..., centre_id=..., level=5, part="theory",
                                 window_id=..., scope=scope_for(user))     # every filter optional
    # -> [ApprovedApplication(id, name, id_number, sex, employer, guard_cert_no, guard_cert_date, level,
    #                         parts, theory_exempt, exemption, unit_id, unit_name, city_id, centre_id,
    #                         window_id, photo_id)], status centre_approved only (ticketed ones drop out).
    #    `parts` never holds "theory" for a theory-exempt person, so part="theory" leaves them out;
    #    `exemption` is the recorded decision dict (rule, label, outcome "exempt"/"not_exempt", words, params,
    #    facts), judged on the window's planned exam date; `exemption_on(application, sitting_date)` decides it
    #    again for the real sitting date.
    photo = applicant_photo(session, application_id)      # ApplicantPhoto (.mime, .data, .width, .height) or None
    from exam_server.applications.views import photo_response
    return photo_response(application)                    # the photo as an HTTP response (you check who may see it)
    from exam_server.applications.operations import mark_ticketed
    mark_ticketed(session, application, actor)           # centre_approved -> ticketed, audited, your transaction

Staff see `/applications/<id>/photo` (scoped to the unit, its centre, the province and the police).
"""
