"""Sittings and places: sessions, sites, rooms, seats, candidates, tickets."""
