"""Applications (鉴定申请): windows per level and part, three ways in under one rule set, ID photos, eligibility
rules as data, and the two-stage review (初审 by the unit, 复审 by the centre). Layer: above organisations, below
sessions (sessions may import this package; this package never imports sessions).
"""
