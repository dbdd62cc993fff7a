"""Exam delivery: attempts, the candidate wire protocol, the server-owned clock.

Rooms: `models` (attempt, response, event log), `states` (the lifecycle table and `move`), `errors` (the
protocol's refusals), `store` (the prepared statements; the only module that knows SQL dialects), `queries`
(read models), `paper` (the rendered paper), `steps` (join, start, save, flag, submit), `clock` (time left,
the deadline, the proctor's pause, resume, extend, force-submit, move), `operations` (preparing a sitting's
attempts, check-in), `sweeper` (the deadline sweep), `notify` (pushes), `events` (/exam Socket.IO), `views`.
"""
