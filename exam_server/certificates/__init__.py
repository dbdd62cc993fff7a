"""Certificates (统一发证): national numbering, PDFs with a QR code, reissue and revocation, and the
public verification page."""
