"""Running a centre's server: backups and restores (`examctl backup` / `restore`), the health check (`/healthz`)
and the audit-log page (`/audit`, with its Excel export as a job).

It sits just above `jobs`: it reads every domain's tables through the database as a whole (a backup, the audit
table) and imports no domain package.
"""
