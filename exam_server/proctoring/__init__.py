"""The proctor's side of exam day: check-in, the live seat map, actions on a room, incidents, replay."""
