"""Stand-ins for the services the portal calls, served over real HTTP for the tests."""
