"""Practical-skill assessment (操作技能): stations, score sheets, two examiners' scores and the chief examiner's decisions."""
