"""People's grading (阅卷): blind double marking with adjudication, and defence panels (论文答辩)."""
