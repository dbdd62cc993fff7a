"""Reports for the centre and the province (统计报表): applications, attendance and pass rates by level, part,
sitting, site, pilot unit and city; score distributions and trends; certificate holders for subsidy claims; a
centre's signed period file and the province's summary of every centre's files."""
