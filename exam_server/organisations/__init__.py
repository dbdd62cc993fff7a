"""Organisations and scope (DESIGN.md §1 "Organisations and scope"; issue 14 item 1).

Province → city → assessment centre (鉴定中心) → test sites (sessions.models.Site, with `centre_id` and a
filing number) and pilot training units (培训鉴定试点单位, with a licence number and levels). Every
organisation is a row of one table `organisation` with a `kind` (models.py); a staff account belongs to
one through `User.organisation_id`.

Other domains ask `scope.scope_for(user)` what an account may see and filter their queries with it
(`Scope.centre_clause(column)`, `Scope.unit_clause(column)`) or check one object (`Scope.check_centre`,
`Scope.check_unit`, `Scope.check_write`), which raise `OutOfScope` (403, Chinese message).
Writes live in operations.py, screens in views.py, commands in cli.py.
"""
