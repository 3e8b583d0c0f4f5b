"""The revisions, oldest first. Each spells its DDL out: never import the live schema here."""
