"""The SCXML 1.0 interpreter (ECMAScript and null data models); pure, snapshot-able."""
